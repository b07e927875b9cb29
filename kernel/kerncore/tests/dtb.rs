//! `kerncore::dtb` against real QEMU 7.2 device trees (tests/dtb/, made by
//! tests/dtb/regenerate.sh), small hand-built trees, and corrupted blobs.

use kerncore::dtb::{self, BoardInfo, Device, DtbError, GicInfo, PsciConduit, Region, TimerIrqs};

static GICV2: &[u8] = include_bytes!("dtb/virt-gicv2.dtb");
static GICV2_SMP4: &[u8] = include_bytes!("dtb/virt-gicv2-smp4.dtb");
static GICV3: &[u8] = include_bytes!("dtb/virt-gicv3-max.dtb");
static GICV3_SMP4: &[u8] = include_bytes!("dtb/virt-gicv3-smp4.dtb");
static HYP: &[u8] = include_bytes!("dtb/virt-hyp.dtb");
static ALL: [&[u8]; 5] = [GICV2, GICV2_SMP4, GICV3, GICV3_SMP4, HYP];

const MIB: u64 = 1 << 20;

fn parse(blob: &[u8]) -> BoardInfo<'_> {
    dtb::parse(blob).expect("QEMU's blob parses")
}

/// The facts of ../shared/PLATFORM.md that every `virt` blob shares.
fn check_virt_common(info: &BoardInfo<'_>, blob: &[u8]) {
    assert_eq!(info.blob_size, blob.len());
    assert_eq!(
        info.uart,
        Some(Device {
            reg: Region {
                base: 0x0900_0000,
                size: 0x1000
            },
            irq: Some(33)
        })
    );
    assert_eq!(
        info.rtc,
        Some(Device {
            reg: Region {
                base: 0x0901_0000,
                size: 0x1000
            },
            irq: Some(34)
        })
    );
    assert_eq!(
        info.timer,
        Some(TimerIrqs {
            secure_phys: 29,
            nonsecure_phys: 30,
            virt: 27,
            hyp: 26
        })
    );
    assert_eq!(info.virtio.len(), 32);
    assert_eq!(info.virtio.dropped(), 0);
    for (slot, transport) in info.virtio.as_slice().iter().enumerate() {
        let slot = slot as u64;
        assert_eq!(
            transport.reg.base,
            0x0a00_0000 + slot * 0x200,
            "slot {slot}"
        );
        assert_eq!(transport.reg.size, 0x200);
        assert_eq!(transport.irq, Some(48 + slot as u32));
    }
    assert_eq!(info.memory.as_slice()[0].base, 0x4000_0000);
    assert_eq!(info.memory.len(), 1);
}

#[test]
fn gicv2_cortex_a15() {
    let info = parse(GICV2);
    check_virt_common(&info, GICV2);
    assert_eq!(
        info.gic,
        Some(GicInfo::V2 {
            dist: Region {
                base: 0x0800_0000,
                size: 0x1_0000
            },
            cpu: Region {
                base: 0x0801_0000,
                size: 0x1_0000
            },
        })
    );
    let psci = info.psci.expect("psci node");
    assert_eq!(psci.conduit, PsciConduit::Hvc);
    assert!(psci.v0_2);
    assert_eq!(psci.cpu_on, Some(0x8400_0003));
    assert_eq!(psci.cpu_off, Some(0x8400_0002));
    assert_eq!(info.memory.as_slice()[0].size, 512 * MIB);
    assert_eq!(info.bootargs, Some("console=pl011 semihosting=off"));
    assert_eq!(info.cpu_mpidrs.as_slice(), &[0]);
}

#[test]
fn gicv3_max() {
    let info = parse(GICV3);
    check_virt_common(&info, GICV3);
    let Some(GicInfo::V3 { dist, redist }) = info.gic else {
        panic!("expected GICv3, got {:?}", info.gic);
    };
    assert_eq!(
        dist,
        Region {
            base: 0x0800_0000,
            size: 0x1_0000
        }
    );
    assert_eq!(redist.len(), 1);
    assert_eq!(redist.as_slice()[0].base, 0x080a_0000);
    // One 128 KiB redistributor per CPU must fit (QEMU gives 0xf60000).
    assert!(redist.as_slice()[0].size >= 0x2_0000);
    assert_eq!(info.psci.map(|p| p.conduit), Some(PsciConduit::Hvc));
    // No -append: QEMU writes no bootargs.
    assert_eq!(info.bootargs, None);
    assert_eq!(info.cpu_mpidrs.as_slice(), &[0]);
}

#[test]
fn virtualization_on_uses_smc() {
    let info = parse(HYP);
    check_virt_common(&info, HYP);
    assert!(matches!(info.gic, Some(GicInfo::V2 { .. })));
    assert_eq!(info.psci.map(|p| p.conduit), Some(PsciConduit::Smc));
    assert_eq!(info.memory.as_slice()[0].size, 1024 * MIB);
}

#[test]
fn four_cpus() {
    for blob in [GICV2_SMP4, GICV3_SMP4] {
        let info = parse(blob);
        check_virt_common(&info, blob);
        assert_eq!(info.cpu_mpidrs.as_slice(), &[0, 1, 2, 3]);
    }
    // 2 GiB: the size needs the second size cell's full width.
    let info = parse(GICV3_SMP4);
    assert_eq!(info.memory.as_slice()[0].size, 2048 * MIB);
}

#[test]
fn blob_size_reads_only_the_header() {
    let total = dtb::blob_size(&GICV2[..dtb::HEADER_SIZE]).unwrap();
    assert_eq!(total, GICV2.len());
    assert_eq!(
        dtb::blob_size(&GICV2[..dtb::HEADER_SIZE - 1]),
        Err(DtbError::TooShort)
    );
    assert_eq!(dtb::blob_size(&[0; 64]), Err(DtbError::BadMagic));
    let mut old = GICV2[..dtb::HEADER_SIZE].to_vec();
    old[20..24].copy_from_slice(&16u32.to_be_bytes());
    assert_eq!(dtb::blob_size(&old), Err(DtbError::BadVersion));
}

#[test]
fn trailing_bytes_are_ignored() {
    let mut longer = GICV2.to_vec();
    longer.extend_from_slice(&[0xff; 4096]);
    let info = parse(&longer);
    assert_eq!(info.blob_size, GICV2.len());
    assert_eq!(info.uart.map(|u| u.irq), Some(Some(33)));
}

#[test]
fn every_truncation_is_an_error() {
    for blob in ALL {
        for len in 0..blob.len() {
            assert!(dtb::parse(&blob[..len]).is_err(), "length {len}");
        }
    }
}

/// Sets header word `index` (big-endian).
fn set_header(blob: &mut [u8], index: usize, value: u32) {
    blob[index * 4..index * 4 + 4].copy_from_slice(&value.to_be_bytes());
}

#[test]
fn truncated_blocks_are_errors() {
    // A blob cut short with a matching totalsize: the walk runs off the
    // end of the structure block and must say so.
    for len in (dtb::HEADER_SIZE..GICV2.len()).step_by(3) {
        let mut cut = GICV2[..len].to_vec();
        set_header(&mut cut, 1, len as u32);
        assert!(dtb::parse(&cut).is_err(), "length {len}");
    }
    // A structure block shortened inside an intact blob.
    let struct_size = u32::from_be_bytes(GICV2[36..40].try_into().unwrap());
    for size in (0..struct_size).step_by(4) {
        let mut short = GICV2.to_vec();
        set_header(&mut short, 9, size);
        let result = dtb::parse(&short);
        assert!(
            matches!(
                result,
                Err(DtbError::BadToken | DtbError::BadNesting | DtbError::BadName)
            ),
            "struct size {size}: {result:?}"
        );
    }
}

#[test]
fn header_corruption_is_typed() {
    let mut bad = GICV2.to_vec();
    bad[0] ^= 1;
    assert_eq!(dtb::parse(&bad).unwrap_err(), DtbError::BadMagic);
    let mut bad = GICV2.to_vec();
    set_header(&mut bad, 2, u32::MAX - 2); // off_dt_struct
    assert_eq!(dtb::parse(&bad).unwrap_err(), DtbError::BadLayout);
    let mut bad = GICV2.to_vec();
    set_header(&mut bad, 8, u32::MAX); // size_dt_strings
    assert_eq!(dtb::parse(&bad).unwrap_err(), DtbError::BadLayout);
    let mut bad = GICV2.to_vec();
    set_header(&mut bad, 1, u32::MAX); // totalsize beyond the slice
    assert_eq!(dtb::parse(&bad).unwrap_err(), DtbError::TooShort);
}

#[test]
fn every_single_bit_flip_is_survived() {
    let mut accepted = 0;
    let mut rejected = 0;
    // GICv3's blob differs only in the GIC node and the CPU model; one
    // blob keeps the test at a few seconds.
    {
        let mut copy = GICV2.to_vec();
        for byte in 0..copy.len() {
            for bit in 0..8 {
                copy[byte] ^= 1 << bit;
                match dtb::parse(&copy) {
                    Ok(_) => accepted += 1,
                    Err(_) => rejected += 1,
                }
                copy[byte] ^= 1 << bit;
            }
        }
    }
    // Most flips land in values (still a valid tree); some must be caught.
    assert!(accepted > 0 && rejected > 0, "{accepted} / {rejected}");
}

#[test]
fn random_multi_byte_corruption_is_survived() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000 {
        let source = ALL[round % ALL.len()];
        let mut copy = source.to_vec();
        for _ in 0..1 + next() % 8 {
            let at = (next() as usize) % copy.len();
            copy[at] = next() as u8;
        }
        // Any outcome but a panic is fine.
        let _ = dtb::parse(&copy);
    }
}

/// Builds small device trees (version 17) token by token.
struct Builder {
    structure: Vec<u8>,
    strings: Vec<u8>,
}

impl Builder {
    fn new() -> Self {
        Self {
            structure: Vec::new(),
            strings: Vec::new(),
        }
    }
    fn token(&mut self, token: u32) -> &mut Self {
        self.structure.extend_from_slice(&token.to_be_bytes());
        self
    }
    fn pad(&mut self) {
        while !self.structure.len().is_multiple_of(4) {
            self.structure.push(0);
        }
    }
    fn begin(&mut self, name: &str) -> &mut Self {
        self.token(1);
        self.structure.extend_from_slice(name.as_bytes());
        self.structure.push(0);
        self.pad();
        self
    }
    fn end(&mut self) -> &mut Self {
        self.token(2)
    }
    fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.token(3);
        self.token(value.len() as u32);
        self.token(offset);
        self.structure.extend_from_slice(value);
        self.pad();
        self
    }
    fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let bytes: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &bytes)
    }
    fn finish(&mut self) -> Vec<u8> {
        self.token(9);
        let struct_off = 40 + 16; // header, empty reservation map
        let strings_off = struct_off + self.structure.len();
        let total = strings_off + self.strings.len();
        let header = [
            0xd00d_feed,
            total as u32,
            struct_off as u32,
            strings_off as u32,
            40,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structure.len() as u32,
        ];
        let mut blob: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
        blob.extend_from_slice(&[0; 16]);
        blob.extend_from_slice(&self.structure);
        blob.extend_from_slice(&self.strings);
        blob
    }
}

#[test]
fn minimal_tree_has_only_what_it_says() {
    let blob = Builder::new()
        .begin("")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .begin("memory@80000000")
        .prop("device_type", b"memory\0")
        .cells("reg", &[0x8000_0000, 0x1000_0000, 0xa000_0000, 0x100_0000])
        .end()
        .begin("cpus")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[0])
        .begin("cpu@100")
        .prop("device_type", b"cpu\0")
        .cells("reg", &[0, 0x8000_0100])
        .end()
        .end()
        .begin("psci")
        .prop("compatible", b"arm,psci\0")
        .prop("method", b"smc\0")
        .cells("cpu_on", &[0x95c1_ba5e])
        .end()
        .end()
        .finish();
    let info = parse(&blob);
    assert_eq!(
        info.memory.as_slice(),
        &[
            Region {
                base: 0x8000_0000,
                size: 0x1000_0000
            },
            Region {
                base: 0xa000_0000,
                size: 0x100_0000
            }
        ]
    );
    // Affinity bits only; bit 31 of the register is not in the tree.
    assert_eq!(info.cpu_mpidrs.as_slice(), &[0x100]);
    let psci = info.psci.unwrap();
    assert_eq!(psci.conduit, PsciConduit::Smc);
    assert!(!psci.v0_2);
    assert_eq!(psci.cpu_on, Some(0x95c1_ba5e));
    assert_eq!(info.gic, None);
    assert_eq!(info.uart, None);
    assert_eq!(info.timer, None);
    assert_eq!(info.bootargs, None);
    assert!(info.virtio.is_empty());
}

#[test]
fn devices_under_identity_bus_and_without_gic() {
    let blob = Builder::new()
        .begin("")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .begin("soc")
        .prop("compatible", b"simple-bus\0")
        .prop("ranges", b"")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .begin("uart@1c090000")
        .prop("compatible", b"arm,pl011\0arm,primecell\0")
        .cells("reg", &[0x1c09_0000, 0x1000])
        .cells("interrupts", &[0, 5, 4])
        .end()
        .end()
        .begin("translated")
        .cells("ranges", &[0, 0x4000_0000, 0x1000])
        .begin("rtc@0")
        .prop("compatible", b"arm,pl031\0")
        .cells("reg", &[0, 0x1000])
        .end()
        .end()
        .begin("psci")
        .prop("compatible", b"arm,psci-1.0\0")
        .prop("method", b"magic\0")
        .end()
        .end()
        .finish();
    let info = parse(&blob);
    // No GIC in the tree: the address is known, the interrupt is not.
    assert_eq!(
        info.uart,
        Some(Device {
            reg: Region {
                base: 0x1c09_0000,
                size: 0x1000
            },
            irq: None
        })
    );
    // Behind a translating `ranges`: skipped rather than misread.
    assert_eq!(info.rtc, None);
    // An unknown conduit is no PSCI at all.
    assert_eq!(info.psci, None);
}

#[test]
fn structure_errors_are_typed() {
    let nop = Builder::new().begin("").token(4).end().finish();
    assert_eq!(dtb::parse(&nop), Err(DtbError::UnsupportedNop));

    let prop_after_child = Builder::new()
        .begin("")
        .begin("a")
        .end()
        .prop("late", b"x")
        .end()
        .finish();
    assert_eq!(dtb::parse(&prop_after_child), Err(DtbError::BadNesting));

    let mut deep = Builder::new();
    for _ in 0..=dtb::MAX_DEPTH {
        deep.begin("n");
    }
    for _ in 0..=dtb::MAX_DEPTH {
        deep.end();
    }
    let mut deep = deep.finish();
    // The root must be nameless: rename the outermost node.
    deep[56 + 4] = 0;
    assert_eq!(dtb::parse(&deep), Err(DtbError::BadNesting));

    let unbalanced = Builder::new().begin("").finish();
    assert_eq!(dtb::parse(&unbalanced), Err(DtbError::BadNesting));
    let extra_end = Builder::new().begin("").end().end().finish();
    assert_eq!(dtb::parse(&extra_end), Err(DtbError::BadNesting));
    let two_roots = Builder::new().begin("").end().begin("").end().finish();
    assert_eq!(dtb::parse(&two_roots), Err(DtbError::BadNesting));
    let named_root = Builder::new().begin("root").end().finish();
    assert_eq!(dtb::parse(&named_root), Err(DtbError::BadName));
    let unknown_token = Builder::new().begin("").token(7).end().finish();
    assert_eq!(dtb::parse(&unknown_token), Err(DtbError::BadToken));

    let mut bad_name = Builder::new().begin("").prop("name", b"v").end().finish();
    let len = bad_name.len();
    bad_name[len - 1] = b'x'; // the strings block loses its NUL
    assert_eq!(dtb::parse(&bad_name), Err(DtbError::BadName));

    let mut huge_prop = Builder::new()
        .begin("")
        .prop("name", b"value")
        .end()
        .finish();
    // The property's length word: header 40 + rsvmap 16 + BEGIN 4 + name 4 + PROP 4.
    huge_prop[68..72].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(dtb::parse(&huge_prop), Err(DtbError::BadToken));
}
