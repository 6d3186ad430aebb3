use bytes::Bytes;
use proptest::prelude::*;

use super::*;

/// Feed `input` in reads ending at `cuts`, collect every line.
fn lines_of(input: &[u8], cuts: &[usize], lone_cr: bool) -> Result<Vec<Bytes>, DecodeError> {
    let mut decoder = LineDecoder::new();
    if lone_cr {
        decoder = decoder.lone_cr();
    }
    let mut out = Vec::new();
    for piece in pieces(input, cuts) {
        decoder.push(piece);
        while let Some(line) = decoder.next_line()? {
            out.push(line);
        }
    }
    while let Some(line) = decoder.finish()? {
        out.push(line);
    }
    Ok(out)
}

fn events_of(input: &[u8], cuts: &[usize], max: usize) -> Result<Vec<SseEvent>, DecodeError> {
    let mut decoder = SseDecoder::with_max_line(max);
    let mut out = Vec::new();
    for piece in pieces(input, cuts) {
        decoder.push(piece);
        while let Some(event) = decoder.next_event()? {
            out.push(event);
        }
    }
    while let Some(event) = decoder.finish()? {
        out.push(event);
    }
    Ok(out)
}

fn pieces(input: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([input.len()]) {
        out.push(Bytes::copy_from_slice(&input[start..cut]));
        start = cut;
    }
    out
}

fn strs(lines: &[Bytes]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect()
}

#[test]
fn lines_end_at_lf_and_crlf_and_the_last_line_needs_no_newline() {
    let lines = lines_of(b"one\r\ntwo\n\nthree", &[], false).unwrap();
    assert_eq!(strs(&lines), ["one", "two", "", "three"]);
}

#[test]
fn a_crlf_split_between_reads_is_one_terminator() {
    let lines = lines_of(b"a\r\nb\r\n", &[2], false).unwrap();
    assert_eq!(strs(&lines), ["a", "b"]);
    let lines = lines_of(b"a\r\nb\r\n", &[2], true).unwrap();
    assert_eq!(strs(&lines), ["a", "b"]);
}

#[test]
fn a_lone_cr_ends_a_line_only_when_asked() {
    assert_eq!(strs(&lines_of(b"a\rb\n", &[], true).unwrap()), ["a", "b"]);
    assert_eq!(strs(&lines_of(b"a\rb\n", &[], false).unwrap()), ["a\rb"]);
}

#[test]
fn a_line_past_the_limit_is_refused_before_its_end_arrives() {
    let mut decoder = LineDecoder::with_max_line(8);
    decoder.push(Bytes::from_static(b"12345"));
    assert_eq!(decoder.next_line(), Ok(None));
    decoder.push(Bytes::from_static(b"6789"));
    assert_eq!(
        decoder.next_line(),
        Err(DecodeError::LineTooLong { limit: 8 })
    );
}

#[test]
fn a_line_exactly_at_the_limit_is_accepted() {
    let mut decoder = LineDecoder::with_max_line(4);
    decoder.push(Bytes::from_static(b"1234\n"));
    assert_eq!(decoder.next_line().unwrap().as_deref(), Some(&b"1234"[..]));
}

#[test]
fn a_ten_megabyte_line_is_refused_without_buffering_it() {
    let mut decoder = NdjsonDecoder::new();
    let read = Bytes::from(vec![b'x'; 64 * 1024]);
    let mut refused_after = None;
    for i in 0..160 {
        decoder.push(read.clone());
        if let Err(error) = decoder.next_line() {
            assert_eq!(
                error,
                DecodeError::LineTooLong {
                    limit: DEFAULT_MAX_LINE
                }
            );
            refused_after = Some((i + 1) * read.len());
            break;
        }
    }
    let refused_after = refused_after.expect("a 10 MB line must be refused");
    assert!(
        refused_after <= DEFAULT_MAX_LINE + read.len(),
        "buffered {refused_after} bytes"
    );
}

#[test]
fn ndjson_skips_blank_lines() {
    let mut decoder = NdjsonDecoder::new();
    decoder.push(Bytes::from_static(b"{\"a\":1}\n\n  \r\n{\"b\":2}"));
    assert_eq!(
        decoder.next_line().unwrap().as_deref(),
        Some(&b"{\"a\":1}"[..])
    );
    assert_eq!(decoder.next_line().unwrap(), None);
    assert_eq!(
        decoder.finish().unwrap().as_deref(),
        Some(&b"{\"b\":2}"[..])
    );
    assert_eq!(decoder.finish().unwrap(), None);
}

#[test]
fn whole_lines_inside_one_read_are_not_copied() {
    let read = Bytes::from_static(b"first\nsecond\n");
    let mut decoder = LineDecoder::new();
    decoder.push(read.clone());
    let line = decoder.next_line().unwrap().unwrap();
    assert_eq!(line.as_ptr(), read.as_ptr());
}

#[test]
fn sse_events_join_data_lines_and_skip_comments() {
    let input = b": keep-alive\n\ndata: one\ndata:two\n\nevent: note\nid: 7\ndata: x\n\n";
    let events = events_of(input, &[], DEFAULT_MAX_LINE).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(&events[0].data[..], b"one\ntwo");
    assert_eq!(events[0].event, None);
    assert_eq!(events[1].event.as_deref(), Some("note"));
    assert_eq!(events[1].id.as_deref(), Some("7"));
}

#[test]
fn sse_accepts_crlf_and_lone_cr_and_a_byte_order_mark() {
    let input = b"\xEF\xBB\xBFdata: a\r\n\r\ndata: b\r\rdata: [DONE]\n\n";
    let events = events_of(input, &[], DEFAULT_MAX_LINE).unwrap();
    let data: Vec<&[u8]> = events.iter().map(|e| &e.data[..]).collect();
    assert_eq!(data, [&b"a"[..], b"b", b"[DONE]"]);
}

#[test]
fn sse_dispatches_an_unterminated_last_event_at_the_end() {
    let events = events_of(b"data: one\n\ndata: [DONE]", &[], DEFAULT_MAX_LINE).unwrap();
    assert_eq!(&events[1].data[..], b"[DONE]");
}

#[test]
fn sse_an_event_with_no_data_is_not_dispatched() {
    let events = events_of(b"event: ping\n\nid: 3\n\n", &[], DEFAULT_MAX_LINE).unwrap();
    assert!(events.is_empty());
}

#[test]
fn sse_refuses_an_event_whose_data_lines_add_up_past_the_limit() {
    let input = b"data: 12345\ndata: 12345\ndata: 12345\n\n";
    assert_eq!(
        events_of(input, &[], 16),
        Err(DecodeError::EventTooLong { limit: 16 })
    );
}

/// Inputs rich in the bytes that matter to the decoders.
fn protocolish() -> impl Strategy<Value = Vec<u8>> {
    let atom = prop_oneof![
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b": ping".to_vec()),
        Just(b"event: e".to_vec()),
        Just(b"{\"k\":1}".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(atom, 0..40).prop_map(|atoms| atoms.concat())
}

proptest! {
    #[test]
    fn every_split_gives_the_same_lines_as_the_whole(
        input in protocolish(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        lone_cr in any::<bool>(),
    ) {
        prop_assert_eq!(lines_of(&input, &cuts, lone_cr), lines_of(&input, &[], lone_cr));
    }

    #[test]
    fn every_split_gives_the_same_events_as_the_whole(
        input in protocolish(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        prop_assert_eq!(events_of(&input, &cuts, 64), events_of(&input, &[], 64));
    }

    #[test]
    fn bytes_in_one_read_per_byte_give_the_same_lines(input in protocolish()) {
        let cuts: Vec<usize> = (1..input.len()).collect();
        prop_assert_eq!(lines_of(&input, &cuts, false), lines_of(&input, &[], false));
        prop_assert_eq!(events_of(&input, &cuts, 64), events_of(&input, &[], 64));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        input in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = lines_of(&input, &cuts, true);
        let _ = events_of(&input, &cuts, 16);
        let mut ndjson = NdjsonDecoder::with_max_line(16);
        for piece in pieces(&input, &cuts) {
            ndjson.push(piece);
            while let Ok(Some(_)) = ndjson.next_line() {}
        }
    }

    #[test]
    fn lines_rejoined_give_back_the_input_for_lf_text(
        lines in proptest::collection::vec("[a-z{}:\" ]{0,20}", 0..10),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let input = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let got = lines_of(input.as_bytes(), &cuts, false).unwrap();
        prop_assert_eq!(strs(&got), lines.iter().map(String::as_str).collect::<Vec<_>>());
    }
}
