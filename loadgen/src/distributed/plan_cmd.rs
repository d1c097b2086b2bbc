//! `ceiling plan URL [load options] --nodes N --start-in 60s -o plan.json`: writes
//! the plan file every node runs a share of, and prints how to start the nodes
//! with the engines people already run (one node by hand, pdsh, GNU parallel,
//! Slurm, a Kubernetes Indexed Job).

use super::{PlanFile, Planned};
use crate::error::{CliError, Failed};
use crate::options::{
    self, DisplayArgs, LoadArgs, MachineArgs, NodeArgs, OutputArgs, Reach, UsageError, ValueError,
};
use crate::plan::{build, split, BuildError, Machine, Mode, Outputs, Share};
use clap::Parser;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The latest T0 a plan may set: 30 days from now.
const MAX_START_IN: Duration = Duration::from_secs(30 * 86_400);

/// A plan: the generator's load options, plus how many nodes share them and when they start.
#[derive(Debug, Parser)]
#[command(
    name = "ceiling plan",
    bin_name = "ceiling plan",
    after_help = "The load options below are totals for the whole run. Flags that belong to one machine (--cpus, --io-engine, --source-ips, --out, --json, --html, --hgrm, --hlog, --latency, --plan, --node-index, --node-count) are refused here: give them on each node's command line or to `ceiling merge`. See docs/distributed.md."
)]
pub(crate) struct PlanArgs {
    /// Generator machines sharing the load (connections, -n and -R are totals), 1 to 100000
    #[arg(long, value_parser = options::nodes_value, allow_hyphen_values = true)]
    nodes: usize,
    /// T0, the wall-clock instant every node starts sending, from now (up to 30 days)
    #[arg(long, default_value = "60s", value_parser = start_in_value, allow_hyphen_values = true)]
    start_in: Duration,
    /// A node reaching T0 later than this refuses to start (1ms to 1h)
    #[arg(long, default_value = "1s", value_parser = tolerance_value, allow_hyphen_values = true)]
    start_tolerance: Duration,
    /// Write the plan file here
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
    /// Write the Kubernetes manifest here [default: the plan's name with .k8s.yaml]
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Container image with `ceiling` on its PATH, for the manifest
    #[arg(long, default_value = "ceiling:latest", value_parser = image_value)]
    image: String,
    /// Kubernetes namespace, for the manifest
    #[arg(long, default_value = "default", value_parser = k8s_name_value)]
    namespace: String,
    /// For the manifest: write the node files to this PersistentVolumeClaim
    /// (ReadWriteMany) instead of the pods' stdout
    #[arg(long, value_name = "CLAIM", value_parser = k8s_name_value)]
    results_pvc: Option<String>,
    #[command(flatten)]
    load: LoadArgs,
}

/// A Kubernetes object name (RFC 1123 label: lowercase letters, digits and '-',
/// 1 to 63, starting and ending alphanumeric): it goes into the manifest as is.
fn k8s_name_value(t: &str) -> Result<String, ValueError> {
    let ok = (1..=63).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !t.starts_with('-')
        && !t.ends_with('-');
    if !ok {
        return Err(ValueError::Invalid(
            "a Kubernetes name: 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit".into(),
        ));
    }
    Ok(t.to_string())
}

/// A container image reference: printable, no spaces or quotes (it goes into
/// the manifest's YAML as is).
fn image_value(t: &str) -> Result<String, ValueError> {
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'')
    {
        return Err(ValueError::Invalid(
            "an image reference such as registry/ceiling:1.0 (no spaces, quotes or control characters)".into(),
        ));
    }
    Ok(t.to_string())
}

fn start_in_value(t: &str) -> Result<Duration, ValueError> {
    options::duration(t, Duration::from_millis(1), MAX_START_IN)
}

fn tolerance_value(t: &str) -> Result<Duration, ValueError> {
    options::duration(t, Duration::from_millis(1), Duration::from_secs(3600))
}

/// `ceiling plan ARGS` (args[0] is "plan").
pub fn main(args: &[OsString]) -> Result<(), CliError> {
    command(args, Reach::Whole)
}

/// `main` as far as `reach` goes (its checks write no file).
pub fn command(args: &[OsString], reach: Reach) -> Result<(), CliError> {
    let a = match PlanArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            if let Some(u) = not_in_a_plan(&e) {
                return Err(u.into());
            }
            let text = options::info_or_usage(e)?;
            if reach == Reach::Whole {
                shared::show!("{text}");
            }
            return Ok(());
        }
    };
    let text = plan(&a, reach)?;
    if reach == Reach::Whole {
        shared::show!("{text}");
    }
    Ok(())
}

/// A node's or merge's flag given to `plan`: say where it belongs (the groups'
/// own declarations say which flags those are).
fn not_in_a_plan(e: &clap::Error) -> Option<UsageError> {
    use clap::error::{ContextKind, ContextValue};
    if e.kind() != clap::error::ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split('=').next().unwrap_or(arg);
    let local = [
        options::longs_of::<MachineArgs>(),
        options::longs_of::<OutputArgs>(),
        options::longs_of::<DisplayArgs>(),
        options::longs_of::<NodeArgs>(),
    ];
    local.iter().flatten().any(|l| l == flag).then(|| {
        UsageError::Conflict(format!(
            "{flag} is not part of a plan: give it on each node's command line (or to `ceiling merge`)"
        ))
    })
}

fn plan(a: &PlanArgs, reach: Reach) -> Result<String, CliError> {
    // The file's name is a ConfigMap key and a path in the manifest's YAML.
    let key_ok = a
        .output
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| {
            n.len() <= 253
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if !key_ok {
        return Err(UsageError::Flag {
            flag: "-o/--output",
            reason: format!(
                "the plan's file name {:?} must be letters, digits, '-', '_' and '.' (it is a key of the manifest's ConfigMap)",
                a.output.file_name().unwrap_or_default()
            ),
        }
        .into());
    }
    let load = a.load.load()?;
    // The smallest share must still be a valid run: every node needs a connection.
    build(
        &load,
        &Machine::default(),
        &Outputs::default(),
        Share {
            index: a.nodes - 1,
            count: a.nodes,
        },
        Mode::Describe,
        "",
    )?;
    // Both files created now: a path that cannot be written is bad usage (exit 2)
    // found before anything, as every other output flag is.
    let manifest_path = a
        .manifest
        .clone()
        .unwrap_or_else(|| a.output.with_extension("k8s.yaml"));
    for (flag, path) in [("-o/--output", &a.output), ("--manifest", &manifest_path)] {
        std::fs::File::create(path).map_err(|source| BuildError::Output {
            flag,
            path: path.clone(),
            source,
        })?;
    }
    if reach == Reach::Checks {
        return Ok(String::new());
    }
    // T0 on a whole second, so people can read it.
    let t0 = super::unix_ms(SystemTime::now() + a.start_in).div_ceil(1000) * 1000;
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_millis(t0);
    let file = PlanFile::new(load, a.nodes, t0, a.start_tolerance);
    let json = serde_json::to_string_pretty(&file).expect("a plan serializes") + "\n";
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text)
            .map_err(|e| Failed::Outputs(vec![format!("cannot write {}: {e}", path.display())]))
    };
    write(&a.output, &json)?;
    let pod = Pod {
        image: &a.image,
        namespace: &a.namespace,
        results_pvc: a.results_pvc.as_deref(),
    };
    let manifest = kubernetes(&file, &json, &pod, &a.output);
    write(&manifest_path, &manifest)?;
    // The manifest stays in its file (it carries the plan, credentials and
    // all, and runs to a hundred lines): the terminal gets the steps.
    let planned = Planned {
        hash: file.hash(),
        file,
    };
    Ok(instructions(
        &planned,
        &a.output,
        &manifest_path,
        a.results_pvc.as_deref(),
    ))
}

/// What each node gets, and the command lines that start them.
fn instructions(
    p: &Planned,
    path: &Path,
    manifest_path: &Path,
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
    // https: the plan names certificate files, which each node reads itself.
    let tls = &f.load.tls;
    let files: Vec<String> = [&tls.cacert, &tls.cert, &tls.key]
        .into_iter()
        .flatten()
        .map(|p| p.display().to_string())
        .collect();
    let also = if files.is_empty() {
        String::new()
    } else {
        format!(
            ", with the certificate files it names ({}) at the same paths (the Kubernetes manifest does not mount them: add a volume)",
            files.join(", ")
        )
    };
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
        "Plan {run} (hash {hash}) written to {name}: {n} {nodes}, {per_node} {connections} each{rate}{requests}.
T0 = {t0} (in {secs_to_t0} s; a node later than {tol} ms refuses to start). Copy {name} to every node{also} and start them before T0.

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
",
        run = f.run_id,
        hash = p.hash,
        t0 = crate::meta::rfc3339(f.start()),
        tol = f.start_tolerance_ms,
        indices = (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(" "),
        manifest_name = manifest_path.display(),
        nodes = if n == 1 { "node" } else { "nodes" },
        connections = if per_node == "1" { "connection" } else { "connections" },
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
        "# ceiling plan {run}: {n} generator node{plural}, T0 {t0}. Apply before T0.
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
        plural = if n == 1 { "" } else { "s" },
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
        let text = instructions(&p, Path::new("plan.json"), Path::new("p.yaml"), None);
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
