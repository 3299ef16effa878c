//! `bpftool map show` and `bpftool map dump` (tools/bpf/bpftool/map.c, bpftool v7.x) over the simulated kernel's
//! maps: `show_map_close_plain`, `print_entry_plain`, `do_dump_btf` (plain, with the pretty JSON writer, when the
//! map has BTF — then without the `Found N elements` line, as `map_dump` prints it only for plain hex), and
//! `print_entry_json` for `-j`. Elements come in the model's key order (`bpf_map_get_next_key` order in the kernel
//! is bucket order for hashes). Ring buffer and perf event array maps hold no elements user space can look up;
//! their contents are records ([`super::records`]).

use super::btf_dumper::BtfDumper;
use super::json_writer::JsonWriter;
use kernel_model::bpf::maps::{BpfMap, MapType};
use std::fmt::Write as _;

/// `fprint_hex(f, data, n, " ")`: bytes as `%02hhx` separated by a space, two after every 8th and a newline after
/// every 16th.
#[must_use]
pub fn fprint_hex(data: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in data.iter().enumerate() {
        if i > 0 {
            s.push_str(if i % 16 == 0 {
                "\n"
            } else if i % 8 == 0 {
                "  "
            } else {
                " "
            });
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Whether `bpftool map dump` can list the map's elements (`map_lookup_elem` from user space works).
#[must_use]
pub fn dumpable(map: &BpfMap) -> bool {
    matches!(map.def.map_type, MapType::Hash | MapType::Array | MapType::PercpuArray)
}

fn per_cpu(map: &BpfMap) -> bool {
    map.def.map_type == MapType::PercpuArray
}

/// The elements as (key, values): one value, or one per possible CPU for a per-CPU map.
fn elements(map: &BpfMap) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    let entries = map.entries();
    if per_cpu(map) {
        let n = map.nr_cpus().max(1);
        entries.chunks(n).map(|c| (c[0].0.clone(), c.iter().map(|(_, v)| v.clone()).collect())).collect()
    } else {
        entries.into_iter().map(|(k, v)| (k, vec![v])).collect()
    }
}

/// `bpftool map show id N` (plain): `show_map_header_plain` and `show_map_close_plain`, without `memlock` (the
/// model does not compute `map_mem_usage`) and without pins or pids.
#[must_use]
pub fn show_plain(map: &BpfMap) -> String {
    let d = &map.def;
    let mut s = format!("{}: {}  ", map.id, d.map_type.name());
    if !d.name.is_empty() {
        let _ = write!(s, "name {}  ", d.name);
    }
    let _ = write!(s, "flags {:#x}\n\tkey {}B  value {}B  max_entries {}", d.flags, d.key_size, d.value_size, d.max_entries);
    if let Some(b) = &map.btf {
        let _ = write!(s, "\n\tbtf_id {}", b.btf_id);
    }
    s.push('\n');
    s
}

/// `bpftool map dump id N` (plain).
#[must_use]
pub fn dump_plain(map: &BpfMap) -> String {
    let elems = elements(map);
    let d = &map.def;
    if let Some(b) = &map.btf {
        // do_dump(): maps_have_btf → the pretty writer, do_dump_btf per element.
        let mut jw = JsonWriter::new(true);
        let dumper = BtfDumper { btf: &b.btf, plain: true, depth: std::cell::Cell::new(0) };
        jw.start_array();
        for (k, vs) in &elems {
            do_dump_btf(&mut jw, &dumper, map, k, vs);
        }
        jw.end_array();
        return jw.finish();
    }
    let mut s = String::new();
    for (k, vs) in &elems {
        if per_cpu(map) {
            let _ = writeln!(s, "key:\n{}", fprint_hex(k));
            for (cpu, v) in vs.iter().enumerate() {
                let sep = if d.value_size > 16 { '\n' } else { ' ' };
                let _ = writeln!(s, "value (CPU {cpu:02}):{sep}{}", fprint_hex(v));
            }
            continue;
        }
        let break_names = d.key_size > 16 || d.value_size > 16;
        let single_line = d.key_size + d.value_size <= 24 && !break_names;
        let sep = if break_names { '\n' } else { ' ' };
        if d.key_size > 0 {
            let _ = write!(s, "key:{sep}{}", fprint_hex(k));
            s.push_str(if single_line { "  " } else { "\n" });
        }
        let _ = writeln!(s, "value:{sep}{}", fprint_hex(&vs[0]));
    }
    let n = elems.len();
    let _ = writeln!(s, "Found {n} element{}", if n == 1 { "" } else { "s" });
    s
}

/// `do_dump_btf`: `{"key": …, "value": …}` or, per-CPU, `"values": [{"cpu": N, "value": …}]`.
fn do_dump_btf(jw: &mut JsonWriter, d: &BtfDumper<'_>, map: &BpfMap, key: &[u8], values: &[Vec<u8>]) {
    let Some(b) = &map.btf else { return };
    jw.start_object();
    let mut ok = true;
    if b.key_type_id != 0 {
        jw.name("key");
        ok = d.dump(jw, b.key_type_id, key).is_ok();
    }
    if ok {
        if per_cpu(map) {
            jw.name("values");
            jw.start_array();
            for (cpu, v) in values.iter().enumerate() {
                jw.start_object();
                jw.field("cpu", cpu);
                jw.name("value");
                let r = d.dump(jw, b.value_type_id, v);
                jw.end_object();
                if r.is_err() {
                    break;
                }
            }
            jw.end_array();
        } else {
            jw.name("value");
            let _ = d.dump(jw, b.value_type_id, &values[0]);
        }
    }
    jw.end_object();
}

fn hex_json(jw: &mut JsonWriter, data: &[u8]) {
    jw.start_array();
    for b in data {
        jw.raw(&format!("\"0x{b:02x}\""));
    }
    jw.end_array();
}

/// `bpftool -j map dump id N`: `print_entry_json` per element (hex arrays, `"formatted"` from BTF), one line.
#[must_use]
pub fn dump_json(map: &BpfMap) -> String {
    let mut jw = JsonWriter::new(false);
    jw.start_array();
    for (k, vs) in &elements(map) {
        jw.start_object();
        jw.name("key");
        hex_json(&mut jw, k);
        if per_cpu(map) {
            jw.name("values");
            jw.start_array();
            for (cpu, v) in vs.iter().enumerate() {
                jw.start_object();
                jw.field("cpu", cpu);
                jw.name("value");
                hex_json(&mut jw, v);
                jw.end_object();
            }
            jw.end_array();
        } else {
            jw.name("value");
            hex_json(&mut jw, &vs[0]);
        }
        if let Some(b) = &map.btf {
            jw.name("formatted");
            do_dump_btf(&mut jw, &BtfDumper { btf: &b.btf, plain: false, depth: std::cell::Cell::new(0) }, map, k, vs);
        }
        jw.end_object();
    }
    jw.end_array();
    jw.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel_model::bpf::maps::MapDef;

    #[test]
    fn fprint_hex_groups_by_8_and_breaks_after_16() {
        let b: Vec<u8> = (0..18).collect();
        assert_eq!(fprint_hex(&b), "00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n10 11");
    }

    #[test]
    fn plain_dump_without_btf_is_bpftools_hex() {
        let mut m = BpfMap::new(3, MapDef::new("counts", MapType::Hash, 4, 8, 8, 0), 2);
        m.update(&1u32.to_le_bytes(), &42u64.to_le_bytes(), 0, 0).unwrap();
        assert_eq!(dump_plain(&m), "key: 01 00 00 00  value: 2a 00 00 00 00 00 00 00\nFound 1 element\n");
        assert_eq!(show_plain(&m), "3: hash  name counts  flags 0x0\n\tkey 4B  value 8B  max_entries 8\n");
        // Over 24 bytes together: key and value on lines of their own.
        let mut big = BpfMap::new(4, MapDef::new("big", MapType::Array, 4, 24, 1, 0), 1);
        big.value_mut(0).unwrap()[0] = 7;
        assert_eq!(
            dump_plain(&big),
            "key:\n00 00 00 00\nvalue:\n07 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00\n00 00 00 00 00 00 00 00\nFound 1 element\n"
        );
        let pc = BpfMap::new(5, MapDef::new("pc", MapType::PercpuArray, 4, 4, 1, 0), 2);
        assert_eq!(dump_plain(&pc), "key:\n00 00 00 00\nvalue (CPU 00): 00 00 00 00\nvalue (CPU 01): 00 00 00 00\nFound 1 element\n");
        assert_eq!(
            dump_json(&m),
            "[{\"key\":[\"0x01\",\"0x00\",\"0x00\",\"0x00\"],\"value\":[\"0x2a\",\"0x00\",\"0x00\",\"0x00\",\"0x00\",\"0x00\",\"0x00\",\"0x00\"]}]\n"
        );
    }

    #[test]
    fn an_empty_btf_dump_is_an_empty_array() {
        let mut jw = JsonWriter::new(true);
        jw.start_array();
        jw.end_array();
        assert_eq!(jw.finish(), "[]\n");
    }
}
