use super::*;

fn one(src: &str) -> Node {
    let (docs, errors) = parse_documents(src);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(docs.len(), 1);
    docs.into_iter().next().unwrap().root // ok: test
}

#[test]
fn spans_are_one_based_and_point_at_values_and_keys() {
    let root = one("a: 1\nspec:\n  name: \"x\"\n  ünï: café\n  z: ok\n");
    let name = root.get("spec").unwrap().get("name").unwrap(); // ok: test
    assert_eq!((name.span.line, name.span.col), (3, 9));
    assert_eq!(name.span.len, 3);
    let key = name.key_span.unwrap(); // ok: test
    assert_eq!((key.line, key.col), (3, 3));
    let z = root.get("spec").unwrap().get("z").unwrap(); // ok: test
    assert_eq!((z.span.line, z.span.col), (5, 6));
    let cafe = root.get("spec").unwrap().get("ünï").unwrap(); // ok: test
    assert_eq!((cafe.span.line, cafe.span.col), (4, 8));
    assert_eq!(
        &"a: 1\nspec:\n  name: \"x\"\n  ünï: café\n  z: ok\n"
            [cafe.span.offset..cafe.span.offset + cafe.span.len],
        "café"
    );
}

#[test]
fn scalars_resolve_like_kubectl() {
    let root =
        one("a: yes\nb: 'yes'\nc: 0x1F\nd: 010\ne: 1.5\nf: ~\ng: 80\nh: \"80\"\ni: on\nj: web\n");
    let j = root.to_json();
    assert_eq!(j["a"], serde_json::json!(true));
    assert_eq!(j["b"], serde_json::json!("yes"));
    assert_eq!(j["c"], serde_json::json!(31));
    assert_eq!(j["d"], serde_json::json!(8));
    assert_eq!(j["e"], serde_json::json!(1.5));
    assert_eq!(j["f"], serde_json::Value::Null);
    assert_eq!(j["g"], serde_json::json!(80));
    assert_eq!(j["h"], serde_json::json!("80"));
    assert_eq!(j["i"], serde_json::json!(true));
    assert_eq!(j["j"], serde_json::json!("web"));
}

#[test]
fn duplicate_keys_are_errors_at_the_second_key() {
    let (_, errors) = parse_documents("a: 1\nb: 2\na: 3\n");
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].span.line, errors[0].span.col), (3, 1));
    assert!(matches!(
        errors[0].kind,
        YamlErrorKind::DuplicateKey { first_line: 1, .. }
    ));
}

#[test]
fn multi_document_and_json() {
    let (docs, errors) = parse_documents("---\na: 1\n---\n{\"b\": [1, 2]}\n");
    assert!(errors.is_empty());
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].root.to_json(), serde_json::json!({"b": [1, 2]}));
}

#[test]
fn syntax_error_has_position() {
    let (_, errors) = parse_documents("a: \"unclosed\nb: 2\n");
    assert_eq!(errors.len(), 1);
    assert!(matches!(errors[0].kind, YamlErrorKind::Syntax(_)));
    assert!(errors[0].span.line >= 1);
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let src = "[".repeat(10_000);
    let (_, errors) = parse_documents(&src);
    assert!(matches!(
        errors[0].kind,
        YamlErrorKind::TooDeep | YamlErrorKind::Syntax(_)
    ));
}

#[test]
fn alias_bombs_are_bounded() {
    let mut src = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for c in 'b'..='k' {
        src.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        prev = c;
    }
    let (_, errors) = parse_documents(&src);
    assert!(errors.iter().any(|e| e.kind == YamlErrorKind::TooLarge));
}

#[test]
fn lookup_follows_paths() {
    let root = one("spec:\n  ingress:\n  - from:\n    - podSelector: {}\n");
    let path = [
        PathSegment::Key("spec".into()),
        PathSegment::Key("ingress".into()),
        PathSegment::Index(0),
        PathSegment::Key("from".into()),
        PathSegment::Index(0),
        PathSegment::Key("ipBlock".into()),
    ];
    let (node, depth) = root.lookup(&path);
    assert_eq!(depth, 5);
    assert_eq!(node.span.line, 4);
    assert_eq!(field_path_string(&path), "spec.ingress[0].from[0].ipBlock");
    assert_eq!(
        field_path_string(&[
            PathSegment::Key("labels".into()),
            PathSegment::Key("app.kubernetes.io/name".into())
        ]),
        "labels[\"app.kubernetes.io/name\"]"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = parse_documents(&s);
    }

    #[test]
    fn never_panics_on_yamlish_text(s in "[-:\\[\\]{}&*!|>'\" \\n#a-c0-9,?]{0,120}") {
        let (docs, _) = parse_documents(&s);
        for d in docs { let _ = d.root.to_json(); }
    }
}

/// Parsing in pieces gives exactly what parsing each source whole gives:
/// documents, every span, errors, and nothing after a syntax error.
mod pieces {
    use super::*;
    use proptest::prelude::*;

    const DOCS: &[&str] = &[
        "a: 1\nb: [x, y]\n",
        "kind: Pod\nmetadata:\n  name: ünï\n  labels: {app: web}\n",
        "text: |\n  ---\n  not a marker: indented\n",
        "--- x: 1\n",
        "dup: 1\ndup: 2\n",
        "broken: [unclosed\n",
        "# only a comment\n",
        "anchors: &a {k: v}\nuse: *a\n",
        "crlf: yes\r\nmore: 2\r\n",
        "",
    ];

    fn source() -> impl Strategy<Value = String> {
        proptest::collection::vec((0..DOCS.len(), any::<bool>()), 0..12).prop_map(|picks| {
            let mut out = String::new();
            for (i, (d, explicit_first)) in picks.iter().enumerate() {
                if i > 0 || *explicit_first {
                    out.push_str("---\n");
                }
                out.push_str(DOCS[*d]);
            }
            out
        })
    }

    fn debug(r: &(Vec<Document>, Vec<YamlError>)) -> String {
        format!(
            "{:?}\n{:?}",
            r.0.iter().map(|d| &d.root).collect::<Vec<_>>(),
            r.1
        )
    }

    proptest! {
        #[test]
        fn pieces_parse_like_the_whole(a in source(), b in source(), piece in 1usize..64) {
            let srcs = [a.as_str(), b.as_str()];
            let many = parse_many_in(&srcs, piece);
            for (src, got) in srcs.iter().zip(&many) {
                prop_assert_eq!(debug(got), debug(&parse_documents(src)), "{:?}", src);
            }
        }
    }

    #[test]
    fn a_large_file_is_cut_and_put_back() {
        let src: String = (0..5000)
            .map(|i| format!("---\nkind: Pod\nmetadata: {{name: p{i}}}\n"))
            .collect();
        let many = parse_many(&[src.as_str()]);
        assert_eq!(debug(&many[0]), debug(&parse_documents(&src)));
        assert_eq!(many[0].0.len(), 5000);
        let last = many[0].0[4999].root.get("kind").unwrap(); // ok: test
        assert_eq!(last.span.line, 3 * 4999 + 2);
    }
}
