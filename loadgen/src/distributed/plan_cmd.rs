//! `ceiling plan URL [load options] --nodes N --start-in 60s -o plan.json`: writes
//! the plan file every node runs a share of, and prints how to start the nodes
//! with the engines people already run (one node by hand, pdsh, GNU parallel,
//! Slurm, a Kubernetes Indexed Job).

use super::{PlanFile, Planned};
use crate::options::{self, Args, Local, Mode, UsageError, LOAD_IDS};
use crate::plan::{split, Share};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use clap::{CommandFactory, FromArgMatches, Parser};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A plan: the generator's load options, plus how many nodes share them and when they start.
#[derive(Debug, Parser)]
#[command(
    name = "ceiling plan",
    bin_name = "ceiling plan",
    after_help = "The load options below are totals for the whole run. Flags that belong to one machine (--cpus, --io-engine, --source-ips, --out, --json, --html, --hgrm, --hlog, --latency, --plan, --node-index, --node-count) are refused here: give them on each node's command line or to `ceiling merge`. See docs/distributed.md."
)]
struct PlanArgs {
    /// Generator machines sharing the load (connections, -n and -R are totals)
    #[arg(long)]
    nodes: usize,
    /// T0, the wall-clock instant every node starts sending, from now
    #[arg(long, default_value = "60s")]
    start_in: String,
    /// A node reaching T0 later than this refuses to start
    #[arg(long, default_value = "1s")]
    start_tolerance: String,
    /// Write the plan file here
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
    /// Write the Kubernetes manifest here [default: the plan's name with .k8s.yaml]
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Container image with `ceiling` on its PATH, for the manifest
    #[arg(long, default_value = "ceiling:latest")]
    image: String,
    /// Kubernetes namespace, for the manifest
    #[arg(long, default_value = "default")]
    namespace: String,
    /// For the manifest: write the node files to this PersistentVolumeClaim
    /// (ReadWriteMany) instead of the pods' stdout
    #[arg(long, value_name = "CLAIM")]
    results_pvc: Option<String>,
    #[command(flatten)]
    load: Args,
}

/// Flags that belong to a node's command line or to `ceiling merge`, not to the plan.
const NOT_IN_A_PLAN: [(&str, &str); 12] = [
    ("plan", "--plan"),
    ("node_index", "--node-index"),
    ("node_count", "--node-count"),
    ("out", "--out"),
    ("cpus", "--cpus"),
    ("io_engine", "--io-engine"),
    ("source_ips", "--source-ips"),
    ("json", "--json"),
    ("html", "--html"),
    ("hgrm", "--hgrm"),
    ("hlog", "--hlog"),
    ("latency", "--latency"),
];

pub fn main(args: &[OsString]) -> u8 {
    match plan(args) {
        Ok(Some(text)) => {
            print!("{text}");
            EXIT_OK
        }
        Ok(None) => EXIT_OK,
        Err(Failure::Usage(e)) => {
            eprintln!("ceiling plan: {e}");
            EXIT_USAGE
        }
        Err(Failure::Write(e)) => {
            eprintln!("ceiling plan: {e}");
            EXIT_FAILED
        }
    }
}

enum Failure {
    Usage(String),
    Write(String),
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e.0)
    }
}

fn plan(args: &[OsString]) -> Result<Option<String>, Failure> {
    let matches = match PlanArgs::command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            return match options::info_or_usage(e)? {
                options::Parsed::Info(text) => Ok(Some(text)),
                options::Parsed::Plan(_) => Ok(None),
            }
        }
    };
    let a = PlanArgs::from_arg_matches(&matches)
        .map_err(|e| Failure::Usage(options::usage_line(&e)))?;
    for (id, flag) in NOT_IN_A_PLAN {
        if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            return Err(Failure::Usage(format!(
                "{flag} is not part of a plan: give it on each node's command line (or to `ceiling merge`)"
            )));
        }
    }
    debug_assert!(LOAD_IDS
        .iter()
        .all(|id| !NOT_IN_A_PLAN.iter().any(|(n, _)| n == id)));
    if a.nodes == 0 {
        return Err(Failure::Usage("--nodes must be at least 1".into()));
    }
    let load = options::load_of(&a.load)?;
    // The smallest share must still be a valid run: every node needs a connection.
    options::build(
        &load,
        &Local::default(),
        Share {
            index: a.nodes - 1,
            count: a.nodes,
        },
        Mode::Describe,
        String::new(),
    )?;
    let start_in = options::parse_duration("--start-in", &a.start_in)?;
    let tolerance = options::parse_duration("--start-tolerance", &a.start_tolerance)?;
    // T0 on a whole second, so people can read it.
    let t0 = super::unix_ms(SystemTime::now() + start_in).div_ceil(1000) * 1000;
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_millis(t0);
    let file = PlanFile::new(load, a.nodes, t0, tolerance);
    let json = serde_json::to_string_pretty(&file).expect("a plan serializes") + "\n";
    std::fs::write(&a.output, &json)
        .map_err(|e| Failure::Write(format!("cannot write {}: {e}", a.output.display())))?;
    let manifest_path = a
        .manifest
        .clone()
        .unwrap_or_else(|| a.output.with_extension("k8s.yaml"));
    let manifest = kubernetes(
        &file,
        &json,
        &Pod {
            image: &a.image,
            namespace: &a.namespace,
            results_pvc: a.results_pvc.as_deref(),
        },
        &a.output,
    );
    std::fs::write(&manifest_path, &manifest)
        .map_err(|e| Failure::Write(format!("cannot write {}: {e}", manifest_path.display())))?;
    let planned = Planned {
        hash: file.hash(),
        file,
    };
    Ok(Some(instructions(
        &planned,
        &a.output,
        &manifest_path,
        &manifest,
        a.results_pvc.as_deref(),
    )))
}

/// What each node gets, and the command lines that start them.
fn instructions(
    p: &Planned,
    path: &Path,
    manifest_path: &Path,
    manifest: &str,
    results_pvc: Option<&str>,
) -> String {
    let f = &p.file;
    let n = f.nodes;
    let name = path.display();
    let share = |i| split(f.load.connections as u64, n, i);
    let per_node = if n > 1 && share(0) != share(n - 1) {
        format!("{}-{}", share(n - 1), share(0))
    } else {
        share(0).to_string()
    };
    let rate = f
        .load
        .rate
        .map(|r| format!(", {:.2} req/s each ({r} in all)", r / n as f64))
        .unwrap_or_default();
    let requests = f
        .load
        .requests
        .map(|r| format!(", {} requests in all", r))
        .unwrap_or_default();
    let secs_to_t0 = f
        .start()
        .duration_since(SystemTime::now())
        .map_or(0, |d| d.as_secs());
    let last = n - 1;
    let collect = match results_pvc {
        Some(claim) => format!(
            "the node files land on the volume of claim {claim} as ceiling-{}-node-I.jsonl; copy them out (kubectl cp from any pod that mounts it)",
            f.run_id
        ),
        None => format!(
            "for i in {}; do kubectl logs -n NAMESPACE -l ceiling/run={},batch.kubernetes.io/job-completion-index=$i | grep '^{{\"type\"' > node-$i.jsonl; done",
            (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(" "),
            f.run_id
        ),
    };
    format!(
        "Plan {run} (hash {hash}) written to {name}: {n} nodes, {per_node} connections each{rate}{requests}.
T0 = {t0} (in {secs_to_t0} s; a node later than {tol} ms refuses to start). Copy {name} to every node and start them before T0.

One node by hand (index 0 to {last}):
  ceiling run --plan {name} --node-index I --out node-I.jsonl

ssh fan-out with pdsh (its exec module gives each host's rank as %n):
  pdsh -R exec -w HOST0,...,HOST{last} ssh -x %h ceiling run --plan {name} --node-index %n --out node-%n.jsonl
  (then copy the node-*.jsonl files back)

GNU parallel over ssh:
  parallel -j {n} --link ssh {{1}} ceiling run --plan {name} --node-index {{2}} --out node-{{2}}.jsonl ::: HOST0 ... HOST{last} ::: {indices}

Slurm (the index comes from $SLURM_PROCID):
  srun --nodes={n} --ntasks={n} --ntasks-per-node=1 sh -c 'ceiling run --plan {name} --out node-$SLURM_PROCID.jsonl'

Kubernetes Indexed Job (the index comes from $JOB_COMPLETION_INDEX), written to {manifest_name}:
  kubectl apply -f {manifest_name}
  {collect}

Then: ceiling merge node-*.jsonl

{manifest}",
        run = f.run_id,
        hash = p.hash,
        t0 = crate::meta::rfc3339(f.start()),
        tol = f.start_tolerance_ms,
        indices = (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(" "),
        manifest_name = manifest_path.display(),
    )
}

/// Where the Job's pods run and what they write to.
struct Pod<'a> {
    image: &'a str,
    namespace: &'a str,
    /// Node files to this claim's volume; None: to the pods' stdout.
    results_pvc: Option<&'a str>,
}

/// A ConfigMap with the plan and an Indexed Job running one generator per node.
fn kubernetes(f: &PlanFile, json: &str, pod: &Pod, path: &Path) -> String {
    let (image, namespace) = (pod.image, pod.namespace);
    let run = &f.run_id;
    let n = f.nodes;
    let plan_name = path
        .file_name()
        .map_or("plan.json".into(), |s| s.to_string_lossy().into_owned());
    let indented: String = json.lines().map(|l| format!("    {l}\n")).collect();
    // Kubernetes expands $(VAR) in a command from the container's env, so the index
    // is declared from the Job's annotation rather than relying on the injected one.
    let (out, env, mount, volume) = match pod.results_pvc {
        None => ("-".to_string(), String::new(), String::new(), String::new()),
        Some(claim) => (
            format!("/results/ceiling-{run}-node-$(JOB_COMPLETION_INDEX).jsonl"),
            "          env:
            - name: JOB_COMPLETION_INDEX
              valueFrom:
                fieldRef:
                  fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']
"
            .to_string(),
            "            - name: results
              mountPath: /results
"
            .to_string(),
            format!(
                "        - name: results
          persistentVolumeClaim:
            claimName: {claim}
"
            ),
        ),
    };
    format!(
        "# ceiling plan {run}: {n} generator nodes, T0 {t0}. Apply before T0.
# The pods need io_uring: the seccomp profile below (deploy/kubernetes/ceiling-io-uring.json
# in Ceiling's repository) must be on every node under /var/lib/kubelet/seccomp/profiles/.
apiVersion: v1
kind: ConfigMap
metadata:
  name: ceiling-plan-{run}
  namespace: {namespace}
  labels:
    app.kubernetes.io/name: ceiling
    ceiling/run: \"{run}\"
data:
  {plan_name}: |
{indented}---
apiVersion: batch/v1
kind: Job
metadata:
  name: ceiling-{run}
  namespace: {namespace}
  labels:
    app.kubernetes.io/name: ceiling
    ceiling/run: \"{run}\"
spec:
  completionMode: Indexed
  completions: {n}
  parallelism: {n}
  backoffLimit: 0
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels:
        app.kubernetes.io/name: ceiling
        ceiling/run: \"{run}\"
    spec:
      restartPolicy: Never
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector:
                matchLabels:
                  ceiling/run: \"{run}\"
              topologyKey: kubernetes.io/hostname
      securityContext:
        seccompProfile:
          type: Localhost
          localhostProfile: profiles/ceiling-io-uring.json
      containers:
        - name: ceiling
          image: {image}
          command: [\"ceiling\", \"run\", \"--plan\", \"/etc/ceiling/{plan_name}\", \"--out\", \"{out}\", \"--quiet\"]
{env}          volumeMounts:
            - name: plan
              mountPath: /etc/ceiling
              readOnly: true
{mount}      volumes:
        - name: plan
          configMap:
            name: ceiling-plan-{run}
{volume}",
        t0 = crate::meta::rfc3339(f.start()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_name_every_engine() {
        let file = PlanFile::new(
            crate::distributed::tests::load(),
            3,
            SystemTime::now() + Duration::from_secs(60),
            Duration::from_secs(1),
        );
        let json = serde_json::to_string_pretty(&file).unwrap();
        let pod = Pod {
            image: "img",
            namespace: "ns",
            results_pvc: None,
        };
        let m = kubernetes(&file, &json, &pod, Path::new("plan.json"));
        assert!(m.contains("completionMode: Indexed"));
        assert!(m.contains(&format!("ceiling-plan-{}", file.run_id)));
        let p = Planned {
            hash: file.hash(),
            file,
        };
        let text = instructions(&p, Path::new("plan.json"), Path::new("p.yaml"), &m, None);
        for needle in [
            "pdsh",
            "parallel",
            "srun",
            "kubectl apply -f p.yaml",
            "ceiling merge",
            "10 connections each",
            "1000.00 req/s each",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
