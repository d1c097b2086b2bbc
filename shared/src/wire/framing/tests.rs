use super::*;
use proptest::prelude::*;

/// Feeds `chunks` the way a connection loop does: append to a buffer, feed until no
/// progress, drop consumed bytes; at the end, the EOF rule. Returns the completions
/// and the first error.
fn drive(
    f: &mut ResponseFramer,
    chunks: &[&[u8]],
    eof: bool,
) -> (Vec<Completed>, Option<FrameError>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut done = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match f.feed(&buf) {
                Ok(p) => {
                    buf.drain(..p.consumed);
                    if let Some(c) = p.completed {
                        done.push(c);
                    } else if p.consumed == 0 {
                        break;
                    }
                }
                Err(e) => return (done, Some(e)),
            }
        }
    }
    if eof {
        match f.finish_on_eof(&buf) {
            Ok(Some(c)) => done.push(c),
            Ok(None) => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

fn framer(heads: &[bool]) -> ResponseFramer {
    let mut f = ResponseFramer::new(FramingLimits::default());
    for &h in heads {
        f.expect(h);
    }
    f
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";

#[test]
fn content_length_response() {
    let mut f = framer(&[false]);
    let (done, err) = drive(&mut f, &[OK], false);
    assert_eq!(err, None);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, 200);
    assert!(done[0].keep_alive);
    assert_eq!(done[0].body_bytes, 13);
    assert_eq!(done[0].head_bytes as usize, OK.len() - 13);
    assert_eq!(f.outstanding(), 0);
}

#[test]
fn pipelined_responses_in_one_read() {
    let mut f = framer(&[false; 3]);
    let all = [OK, OK, OK].concat();
    let (done, err) = drive(&mut f, &[&all], false);
    assert_eq!(err, None);
    assert_eq!(done.len(), 3);
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let mut f = framer(&[false]);
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nHello\r\n8\r\n, World!\r\n0\r\nX-Trailer: yes\r\n\r\n";
    let (done, err) = drive(&mut f, &[wire], false);
    assert_eq!(err, None);
    assert_eq!(done.len(), 1);
    let head = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(done[0].body_bytes as usize, wire.len() - head);
}

#[test]
fn invalid_chunk_size() {
    let mut f = framer(&[false]);
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nHello\r\n0\r\n\r\n";
    let (_, err) = drive(&mut f, &[wire], false);
    assert_eq!(err, Some(FrameError::InvalidChunk));
}

#[test]
fn missing_crlf_after_chunk_data() {
    let mut f = framer(&[false]);
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHelloXX0\r\n\r\n";
    assert_eq!(
        drive(&mut f, &[wire], false).1,
        Some(FrameError::InvalidChunk)
    );
}

#[test]
fn interim_responses_are_skipped() {
    let mut f = framer(&[false]);
    let wire = [
        &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"[..],
        OK,
    ]
    .concat();
    let (done, err) = drive(&mut f, &[&wire], false);
    assert_eq!(err, None);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, 200);
    assert_eq!(done[0].interim, 2);
    assert_eq!(done[0].head_bytes as usize, wire.len() - 13);
}

#[test]
fn switching_protocols_is_refused() {
    let mut f = framer(&[false]);
    let wire = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(drive(&mut f, &[wire], false).1, Some(FrameError::Upgrade));
}

#[test]
fn head_and_304_and_204_have_no_body_despite_length() {
    let mut f = framer(&[true, false, false, false]);
    let wire = [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n"[..],
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        OK,
    ]
    .concat();
    let (done, err) = drive(&mut f, &[&wire], false);
    assert_eq!(err, None);
    let statuses: Vec<u16> = done.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [200, 304, 204, 200]);
    assert_eq!(done[0].body_bytes, 0);
    assert_eq!(done[3].body_bytes, 13);
}

#[test]
fn http10_close_delimited_completes_at_eof() {
    let mut f = framer(&[false]);
    let (done, err) = drive(&mut f, &[b"HTTP/1.0 200 OK\r\n\r\nsome ", b"body"], true);
    assert_eq!(err, None);
    assert_eq!(done.len(), 1);
    assert!(!done[0].keep_alive);
    assert_eq!(done[0].body_bytes, 9);
}

#[test]
fn http10_keep_alive_with_length() {
    let mut f = framer(&[false]);
    let wire = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok";
    let (done, _) = drive(&mut f, &[wire], false);
    assert!(done[0].keep_alive);
    let mut f = framer(&[false]);
    let (done, _) = drive(
        &mut f,
        &[b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"],
        false,
    );
    assert!(!done[0].keep_alive);
}

#[test]
fn connection_close_is_reported() {
    let mut f = framer(&[false]);
    let wire = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n";
    let (done, _) = drive(&mut f, &[wire], false);
    assert!(!done[0].keep_alive);
}

#[test]
fn eof_rules() {
    // Nothing under way: a clean close.
    let mut f = framer(&[false]);
    assert_eq!(drive(&mut f, &[], true), (vec![], None));
    // Body cut short.
    let mut f = framer(&[false]);
    let cut = &OK[..OK.len() - 3];
    assert_eq!(drive(&mut f, &[cut], true).1, Some(FrameError::Truncated));
    // Partial head.
    let mut f = framer(&[false]);
    assert_eq!(
        drive(&mut f, &[b"HTTP/1.1 200 O"], true).1,
        Some(FrameError::Truncated)
    );
    // After a 100 Continue only.
    let mut f = framer(&[false]);
    assert_eq!(
        drive(&mut f, &[b"HTTP/1.1 100 Continue\r\n\r\n"], true).1,
        Some(FrameError::Truncated)
    );
}

#[test]
fn unsolicited_and_garbage() {
    let mut f = framer(&[]);
    assert_eq!(drive(&mut f, &[OK], false).1, Some(FrameError::Unsolicited));
    let mut f = framer(&[false]);
    assert!(matches!(
        drive(&mut f, &[b"GARBAGE GARBAGE\r\n\r\n"], false).1,
        Some(FrameError::Head(_))
    ));
}

#[test]
fn content_length_conflicts_and_junk() {
    for wire in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    ] {
        let mut f = framer(&[false]);
        assert_eq!(
            drive(&mut f, &[wire], false).1,
            Some(FrameError::InvalidContentLength)
        );
    }
    // The same value twice is fine.
    let mut f = framer(&[false]);
    let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(drive(&mut f, &[wire], false).0.len(), 1);
}

#[test]
fn many_headers_and_large_heads() {
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..1000 {
        head.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(60)).as_bytes());
    }
    head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    assert!(head.len() > 64 * 1024);
    let mut f = framer(&[false]);
    let (done, err) = drive(&mut f, &[&head], false);
    assert_eq!(err, None);
    assert_eq!(done[0].head_bytes as usize, head.len());

    let small = FramingLimits {
        max_head_bytes: 1024,
        max_headers: 16,
    };
    let mut f = ResponseFramer::new(small);
    f.expect(false);
    assert_eq!(f.feed(&head), Err(FrameError::HeadTooLarge));
    let mut f = ResponseFramer::new(small);
    f.expect(false);
    // An incomplete head already over the limit fails without waiting for more.
    assert_eq!(f.feed(&head[..2000]), Err(FrameError::HeadTooLarge));
}

#[test]
fn reset_forgets_everything() {
    let mut f = framer(&[false, false]);
    let _ = f.feed(&OK[..OK.len() - 2]);
    assert!(f.mid_response());
    f.reset();
    assert_eq!(f.outstanding(), 0);
    assert!(!f.mid_response());
    f.expect(false);
    assert_eq!(drive(&mut f, &[OK], false).0.len(), 1);
}

/// One valid response of a kind the strategy picks, and whether its request is a HEAD.
fn response() -> impl Strategy<Value = (Vec<u8>, bool)> {
    let body = proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        body.clone().prop_map(|b| {
            let mut w =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len()).into_bytes();
            w.extend_from_slice(&b);
            (w, false)
        }),
        (body.clone(), 1usize..50).prop_map(|(b, step)| {
            let mut w = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for c in b.chunks(step) {
                w.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                w.extend_from_slice(c);
                w.extend_from_slice(b"\r\n");
            }
            w.extend_from_slice(b"0\r\nTrailer: t\r\n\r\n");
            (w, false)
        }),
        Just((
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop"
                .to_vec(),
            false
        )),
        Just((
            b"HTTP/1.1 200 OK\r\nContent-Length: 77\r\n\r\n".to_vec(),
            true
        )),
        Just((
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n".to_vec(),
            false
        )),
    ]
}

proptest! {
    /// Any split of a valid pipelined stream into reads gives the same responses as
    /// one read of the whole stream.
    #[test]
    fn random_splits_give_the_same_responses(
        responses in proptest::collection::vec(response(), 1..8),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let wire: Vec<u8> = responses.iter().flat_map(|(w, _)| w.clone()).collect();
        let heads: Vec<bool> = responses.iter().map(|(_, h)| *h).collect();

        let mut whole = framer(&heads);
        let (expected, err) = drive(&mut whole, &[&wire], true);
        prop_assert_eq!(err, None);
        prop_assert_eq!(expected.len(), responses.len());

        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&wire[last..p]);
            last = p;
        }
        chunks.push(&wire[last..]);
        let mut split = framer(&heads);
        let (got, err) = drive(&mut split, &chunks, true);
        prop_assert_eq!(err, None);
        prop_assert_eq!(got, expected);
    }

    /// Garbage never panics, and an unfinished head never grows past the limit.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000), heads in 1usize..4) {
        let limits = FramingLimits { max_head_bytes: 512, max_headers: 8 };
        let mut f = ResponseFramer::new(limits);
        for _ in 0..heads {
            f.expect(false);
        }
        let mut buf: &[u8] = &bytes;
        while let Ok(p) = f.feed(buf) {
            if p.consumed == 0 && p.completed.is_none() {
                prop_assert!(buf.len() <= limits.max_head_bytes);
                break;
            }
            buf = &buf[p.consumed..];
        }
        let _ = f.finish_on_eof(buf);
    }
}
