use super::*;

const HEAD: &str = "[machine]\nisa = \"aarch64\"\ncpus = 1\n[image]\nelf = [\"x.o\"]\n";

fn error(body: &str) -> String {
    // Top-level keys go before the tables.
    let text = if body.starts_with('[') { format!("{HEAD}{body}") } else { format!("{body}{HEAD}") };
    match Scenario::parse(Path::new("s.toml"), &text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Every message says what is accepted, never a Rust type, a `Debug` value or serde's internals.
#[test]
fn messages_say_what_is_accepted() {
    let cases = [
        ("[[task]]\ncpu = 0\npid = 1\ncall = \"f\"\nargs = [true]\n", "s.toml:10:9: invalid type: boolean `true`, expected an integer, a string such as \"0x10\", or an address \"&symbol\" / \"&symbol+8\""),
        ("[[task]]\ncpu = 0\npid = 1\ncall = \"f\"\nargs = [{ a = 1 }]\n", "s.toml:10:9: invalid type: table, expected an integer, a string such as \"0x10\", or an address \"&symbol\" / \"&symbol+8\""),
        ("[[task]]\ncpu = 0\npid = 1\ncall = \"f\"\nrepeat = -1\n", "s.toml:10:10: invalid value: integer `-1`, expected a number of calls (0 or more) or \"forever\""),
        ("[[task]]\ncpu = 0\npid = 1\ncall = \"f\"\nrepeat = \"often\"\n", "s.toml: task[0].repeat: `often`: expected a number of calls (0 or more) or \"forever\""),
        ("task = [5]\n", "s.toml:1:9: invalid type: integer `5`, expected a [[task]] table (cpu or cpus, pid, call, args, …)"),
        ("[[kprobe]]\nsymbol = \"f\"\npre = [5]\n", "s.toml:8:8: invalid type: integer `5`, expected a handler step: a table with one of call, set_reg, record_regs, ret, stack_trace_save_regs"),
        ("[[expect_oops]]\ncpu = -1\n", "s.toml:7:7: invalid value: integer `-1`, expected a non-negative integer"),
        ("kprobe = 3\n", "s.toml:1:10: invalid type: integer `3`, expected an array"),
        ("[[expect_kprobe]]\nname = \"p\"\nregistered = true\n", "s.toml: expect_kprobe[0].registered: expected 0, an errno name such as \"-EINVAL\", or \"pending\" (never returned)"),
        ("[[expect_kprobe]]\nname = \"p\"\nregistered = \"EINVAL\"\n", "s.toml: expect_kprobe[0].registered: expected 0, an errno name such as \"-EINVAL\", or \"pending\" (never returned)"),
        ("[[expect_bpf]]\nprog = \"p\"\n", "s.toml: expect_bpf[0]: needs exactly one of `fault` or `rejected`"),
        ("[[bpf]]\nasm = \"exit\"\nattach_mode = \"libbpf\"\n", "s.toml:8:15: unknown variant `libbpf`, expected `shared_event` or `perf_kprobe`"),
    ];
    for (body, want) in cases {
        assert_eq!(error(body), want, "for\n{body}");
    }
    let machine = Scenario::parse(Path::new("s.toml"), "machine = 5\n[image]\nelf = []\n").err().map(|e| e.to_string());
    assert_eq!(machine.as_deref(), Some("s.toml:1:11: invalid type: integer `5`, expected a [machine] table (isa, cpus, kernel, quantum, …)"));
    let empty = Scenario::parse(Path::new("s.toml"), "[machine]\nisa = \"aarch64\"\ncpus = 1\n[image]\nelf = [\"\"]\n");
    assert_eq!(empty.err().map(|e| e.to_string()).as_deref(), Some("s.toml: image.elf[0]: an empty path; give an ELF file's path"));
}

#[test]
fn good_values_still_parse() {
    let body = "[[task]]\ncpu = 0\npid = 1\ncall = \"f\"\nargs = [-1, 18446744073709551615, \"0x10\", \"&f\"]\nrepeat = \"forever\"\n\
                [[expect_kprobe]]\nname = \"p\"\nregistered = \"-ENOENT\"\n[[expect_kprobe]]\nname = \"q\"\nregistered = 0\n";
    let s = Scenario::parse(Path::new("s.toml"), &format!("{HEAD}{body}")).expect("valid");
    assert!(matches!(s.spec.tasks[0].repeat, Some(RepeatSpec::Word(_))));
    assert!(matches!(s.spec.tasks[0].args[..], [ArgSpec::Int(-1), ArgSpec::Int(-1), ArgSpec::Text(_), ArgSpec::Text(_)]));
}
