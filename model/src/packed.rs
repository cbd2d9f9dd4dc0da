//! The packed state: a [`State`] as a short byte string, what the native
//! engine keeps for every state waiting to be expanded and what a state's
//! fingerprint is computed from (issue 13).
//!
//! Why: the full `State` is ~800 bytes, mostly inline room for the largest
//! scenario (16 patches, 8 tasks, 64 functions) and 64-bit sets that hold a
//! few bits; a state of the bench scenario packs into ~60 bytes. The search
//! moved every successor through its insert batch and its output blocks
//! (memmove was a quarter of its time, and 92% of successors are
//! duplicates that were carried and dropped), and its frontier of full
//! states set its peak memory. Packed, a successor is moved as ~100 bytes
//! and a frontier entry is ~110 bytes.
//!
//! The encoding needs no scenario: lengths come first and every bit set is
//! a LEB128 varint, so it is injective: [`PackedState::unpack`] gives back
//! the state exactly (tested on every reachable state of the specs in
//! `checker/tests/packed.rs`), so two states are equal exactly when their
//! packed forms are. `State`'s `Hash` writes the packed bytes in one
//! `write`, and so does `PackedState`'s: a state and its packed form have
//! the same fingerprint, which lets the engine fingerprint either.

use smallvec::SmallVec;

use crate::scenario::{MAX_DEPTH, MAX_PATCHES};
use crate::state::{Frame, Frames, Impl, KlpOp, KlpState, Life, PatchRec, State, Task, TaskLife};

/// Bytes held inline (no allocation) by a packed state; a larger one (many
/// patches or tasks) goes to the heap.
pub const INLINE_BYTES: usize = 96;

/// A [`State`] packed (see the module comment).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PackedState(SmallVec<[u8; INLINE_BYTES]>);

impl std::hash::Hash for PackedState {
    /// One `write` of the bytes, exactly as `State`'s `Hash`.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write(&self.0);
    }
}

impl std::hash::Hash for State {
    /// The packed bytes in one `write` (what [`PackedState`]'s `Hash`
    /// writes). The derived `Hash` made about sixty hasher calls per state,
    /// a quarter of the search (issue 13). Packing is injective, so `Hash`
    /// agrees with `Eq`.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        with_packed(self, |bytes| h.write(bytes));
    }
}

/// Bytes of the stack buffer a state is packed into first.
const STACK_BYTES: usize = 512;

/// Calls `f` with `s` packed, from a stack buffer when it fits (every
/// scenario of ordinary size), else from the heap.
#[inline]
fn with_packed<R>(s: &State, f: impl FnOnce(&[u8]) -> R) -> R {
    let bound = packed_bound(s);
    if bound <= STACK_BYTES {
        let mut buf = [0u8; STACK_BYTES];
        let n = encode(s, &mut buf);
        f(&buf[..n])
    } else {
        let mut buf = vec![0u8; bound];
        let n = encode(s, &mut buf);
        f(&buf[..n])
    }
}

/// At least the bytes [`encode`] can write for `s`, from the lengths
/// alone (a varint takes at most 10 bytes, a frame 3, a func_stack and
/// `klp_patches` at most `MAX_PATCHES`): no walk over the lists.
#[inline(always)]
fn packed_bound(s: &State) -> usize {
    const STACK: usize = 1 + MAX_PATCHES;
    const TASK: usize = 2 + 3 * MAX_DEPTH as usize;
    1 + s.patches.len() * 70
        + STACK
        + 1
        + s.func_stacks.len() * STACK
        + 2
        + (2 + (s.tasks.len() + s.idle_tasks.len()) * TASK)
        + 3
        + 6 * 10
        + 1
}

/// Writes into a buffer that [`packed_bound`] sized.
struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.buf[self.at] = b;
        self.at += 1;
    }

    #[inline(always)]
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }

    /// LEB128: seven bits a byte, the high bit says another follows.
    #[inline(always)]
    fn varint(&mut self, mut w: u64) {
        while w >= 0x80 {
            self.byte(w as u8 | 0x80);
            w >>= 7;
        }
        self.byte(w as u8);
    }

    #[inline(always)]
    fn tasks(&mut self, tasks: &[Task]) {
        self.byte(tasks.len() as u8);
        for t in tasks {
            self.byte(task_byte(t));
            self.byte(t.frames.len() as u8);
            for f in &t.frames {
                self.byte(f.func);
                match f.code {
                    Impl::Original => self.byte(0),
                    Impl::Patch { patch, load } => self.bytes(&[patch + 1, load]),
                }
            }
        }
    }
}

/// Packs `s` into `buf` (at least [`packed_bound`] bytes); returns the
/// length. The layout, in order: the patch records (a head word of flags
/// and small fields, then the six bit sets), `klp_patches`, the
/// func_stacks, `klp_transition_patch`, `klp_target_state`, the tasks and
/// the idle tasks (a byte of fields, the frames), `klp_op`, the global bit
/// sets, the plan cursors, the ghost violations and the two flags.
fn encode(s: &State, buf: &mut [u8]) -> usize {
    let mut w = Writer { buf, at: 0 };
    w.byte(s.patches.len() as u8);
    for p in &s.patches {
        w.varint(patch_head(p));
        for set in [
            p.nops,
            p.dyn_objs,
            p.obj_patched,
            p.obj_mod,
            p.post_unpatch_enabled,
            p.cb_open,
        ] {
            w.varint(set);
        }
    }
    w.byte(s.klp_patches.len() as u8);
    w.bytes(&s.klp_patches);
    w.byte(s.func_stacks.len() as u8);
    for fs in &s.func_stacks {
        w.byte(fs.len() as u8);
        w.bytes(fs);
    }
    w.byte(s.klp_transition_patch.map_or(0, |p| p + 1));
    w.byte(state_byte(s.klp_target_state));
    w.tasks(&s.tasks);
    w.tasks(&s.idle_tasks);
    match s.klp_op {
        None => w.byte(0),
        Some(KlpOp::EnableObjects {
            patch,
            next,
            insmod,
        }) => w.bytes(&[1 + insmod as u8, patch, next]),
        Some(KlpOp::DisableObjects { patch, next }) => w.bytes(&[3, patch, next]),
        Some(KlpOp::FirstTry { patch }) => w.bytes(&[4, patch]),
    }
    w.varint(s.modules_loaded);
    w.varint(s.shadow);
    w.varint(s.shadow_freed);
    w.varint(s.sysmods);
    // Unused plan bytes are 0xFF: complemented, a few plans pack short.
    w.varint(!s.plan_pos);
    w.varint(s.violations as u64);
    w.byte(s.klp_forced as u8 | (s.klp_states_pre_unpatch_replaced_called as u8) << 1);
    w.at
}

struct Reader<'b> {
    b: &'b [u8],
    at: usize,
}

impl Reader<'_> {
    #[inline(always)]
    fn byte(&mut self) -> u8 {
        let b = self.b[self.at];
        self.at += 1;
        b
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        s
    }

    #[inline(always)]
    fn varint(&mut self) -> u64 {
        let mut w = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte();
            w |= ((b & 0x7F) as u64) << shift;
            if b < 0x80 {
                return w;
            }
            shift += 7;
        }
    }

    fn tasks(&mut self) -> SmallVec<[Task; 4]> {
        let n = self.byte() as usize;
        (0..n)
            .map(|_| {
                let tb = self.byte();
                let depth = self.byte() as usize;
                let frames: Frames = (0..depth)
                    .map(|_| {
                        let func = self.byte();
                        let code = match self.byte() {
                            0 => Impl::Original,
                            p => Impl::Patch {
                                patch: p - 1,
                                load: self.byte(),
                            },
                        };
                        Frame { func, code }
                    })
                    .collect();
                Task {
                    life: match tb & 3 {
                        0 => TaskLife::Listed,
                        1 => TaskLife::Exiting,
                        2 => TaskLife::Gone,
                        _ => TaskLife::Unborn,
                    },
                    patch_state: klp_state((tb >> 2) & 3),
                    tif_patch_pending: tb & 0x10 != 0,
                    frames,
                }
            })
            .collect()
    }
}

/// A task record's byte: life (2 bits), patch_state (2 bits),
/// TIF_PATCH_PENDING (1 bit).
fn task_byte(t: &Task) -> u8 {
    let life = match t.life {
        TaskLife::Listed => 0,
        TaskLife::Exiting => 1,
        TaskLife::Gone => 2,
        TaskLife::Unborn => 3,
    };
    life | (state_byte(t.patch_state) << 2) | (t.tif_patch_pending as u8) << 4
}

/// `KlpState` as 0..=2 (its /proc value, -1..=1, shifted).
fn state_byte(k: KlpState) -> u8 {
    (k.proc_value() + 1) as u8
}

fn klp_state(b: u8) -> KlpState {
    match b {
        0 => KlpState::Idle,
        1 => KlpState::Unpatched,
        _ => KlpState::Patched,
    }
}

/// A patch record's flags and small fields in one word (the bit sets
/// follow it as varints).
fn patch_head(p: &PatchRec) -> u64 {
    let flags = (p.enabled as u64)
        | (p.forced as u64) << 1
        | (p.module_ref as u64) << 2
        | (p.replace as u64) << 3
        | (p.transition as u64) << 4
        | (p.retired as u64) << 5
        | (p.replaced as u64) << 6
        | (p.force_involved as u64) << 7;
    let life = match p.life {
        Life::Unloaded => 0u64,
        Life::Listed => 1,
        Life::Freeing => 2,
        Life::Freed => 3,
        Life::Replaced => 4,
    };
    life | flags << 3
        | (p.loads as u64) << 11
        | (p.pre_patch_ret as u64) << 19
        | (p.state_pre_patch_ok as u64) << 27
        | (p.replaced_by as u64) << 35
}

fn patch_from(head: u64, sets: [u64; 6]) -> PatchRec {
    let flag = |i: u32| head >> (3 + i) & 1 != 0;
    PatchRec {
        life: match head & 7 {
            0 => Life::Unloaded,
            1 => Life::Listed,
            2 => Life::Freeing,
            3 => Life::Freed,
            _ => Life::Replaced,
        },
        enabled: flag(0),
        forced: flag(1),
        module_ref: flag(2),
        replace: flag(3),
        transition: flag(4),
        retired: flag(5),
        replaced: flag(6),
        force_involved: flag(7),
        loads: (head >> 11) as u8,
        pre_patch_ret: (head >> 19) as u8,
        state_pre_patch_ok: (head >> 27) as u8,
        replaced_by: (head >> 35) as u16,
        nops: sets[0],
        dyn_objs: sets[1],
        obj_patched: sets[2],
        obj_mod: sets[3],
        post_unpatch_enabled: sets[4],
        cb_open: sets[5],
    }
}

impl PackedState {
    /// Packs `s` (see [`encode`] for the layout).
    pub fn pack(s: &State) -> PackedState {
        with_packed(s, |bytes| PackedState(SmallVec::from_slice(bytes)))
    }

    /// The state this was packed from.
    pub fn unpack(&self) -> State {
        let mut r = Reader { b: &self.0, at: 0 };
        let n = r.byte() as usize;
        let patches = (0..n)
            .map(|_| {
                let head = r.varint();
                let sets = [(); 6].map(|_| r.varint());
                patch_from(head, sets)
            })
            .collect();
        let n = r.byte() as usize;
        let klp_patches = r.bytes(n).iter().copied().collect();
        let n = r.byte() as usize;
        let func_stacks = (0..n)
            .map(|_| {
                let len = r.byte() as usize;
                r.bytes(len).iter().copied().collect()
            })
            .collect();
        let klp_transition_patch = match r.byte() {
            0 => None,
            p => Some(p - 1),
        };
        let klp_target_state = klp_state(r.byte());
        let tasks = r.tasks();
        let idle_tasks = r.tasks();
        let klp_op = match r.byte() {
            0 => None,
            t @ (1 | 2) => Some(KlpOp::EnableObjects {
                patch: r.byte(),
                next: r.byte(),
                insmod: t == 2,
            }),
            3 => Some(KlpOp::DisableObjects {
                patch: r.byte(),
                next: r.byte(),
            }),
            _ => Some(KlpOp::FirstTry { patch: r.byte() }),
        };
        let modules_loaded = r.varint();
        let shadow = r.varint();
        let shadow_freed = r.varint();
        let sysmods = r.varint();
        let plan_pos = !r.varint();
        let violations = r.varint() as u32;
        let flags = r.byte();
        debug_assert_eq!(r.at, self.0.len());
        State {
            patches,
            klp_patches,
            func_stacks,
            klp_transition_patch,
            klp_target_state,
            tasks,
            idle_tasks,
            klp_op,
            modules_loaded,
            shadow,
            shadow_freed,
            sysmods,
            klp_forced: flags & 1 != 0,
            klp_states_pre_unpatch_replaced_called: flags & 2 != 0,
            violations,
            plan_pos,
        }
    }

    /// The packed bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_spec, Scenario};
    use std::hash::{BuildHasher, BuildHasherDefault};

    fn fp<T: std::hash::Hash>(s: &T) -> u64 {
        BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(s)
    }

    /// Every field survives packing (one variant per field, each unpacked
    /// to itself), the variants pack apart (including ones whose bytes
    /// would run together without the length prefixes), and a state hashes
    /// as its packed form.
    #[test]
    fn packing_round_trips_and_separates_fields() {
        let spec = parse_spec(
            r#"{"spec_version": 1,
                "objects": {"vmlinux": {"funcs": ["f", "g"]}},
                "shadow_vars": {"V": {"parent": "obj", "id": "1"}},
                "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"f": {}}}}},
                            "P2": {"objects": {"vmlinux": {"funcs": {"g": {}}}}}},
                "tasks": {"count": 2, "entry": ["f"]}}"#,
        )
        .unwrap();
        let sc = Scenario::compile(&spec, "unit").unwrap();
        let boot = State::boot(&sc, 2);
        let frame = Frame {
            func: 0,
            code: Impl::Patch { patch: 0, load: 1 },
        };
        let mut variants: Vec<State> = vec![boot.clone()];
        let mut push = |f: &dyn Fn(&mut State)| {
            let mut s = boot.clone();
            f(&mut s);
            variants.push(s);
        };
        push(&|s| s.tasks[0].frames.push(frame));
        push(&|s| s.tasks[1].frames.push(frame));
        push(&|s| {
            s.tasks[1].frames.push(Frame {
                func: 1,
                code: Impl::Original,
            })
        });
        push(&|s| s.tasks[0].tif_patch_pending = true);
        push(&|s| s.tasks[0].patch_state = KlpState::Patched);
        push(&|s| s.tasks[0].life = TaskLife::Exiting);
        push(&|s| s.tasks[1].life = TaskLife::Unborn);
        push(&|s| s.idle_tasks[0].patch_state = KlpState::Unpatched);
        push(&|s| s.func_stacks[0].push(0));
        push(&|s| s.func_stacks[1].push(0));
        push(&|s| s.klp_patches.push(0));
        push(&|s| {
            s.klp_patches.push(0);
            s.func_stacks[0].push(1);
        });
        push(&|s| s.klp_transition_patch = Some(0));
        push(&|s| s.klp_target_state = KlpState::Patched);
        push(&|s| s.klp_op = Some(KlpOp::FirstTry { patch: 0 }));
        push(&|s| {
            s.klp_op = Some(KlpOp::EnableObjects {
                patch: 1,
                next: 2,
                insmod: true,
            })
        });
        push(&|s| s.klp_op = Some(KlpOp::DisableObjects { patch: 1, next: 2 }));
        push(&|s| s.shadow = 1);
        push(&|s| s.shadow_freed = 1);
        push(&|s| s.sysmods = 1 << 63);
        push(&|s| s.modules_loaded ^= 2);
        push(&|s| s.klp_forced = true);
        push(&|s| s.klp_states_pre_unpatch_replaced_called = true);
        push(&|s| s.violations = 1);
        push(&|s| s.plan_pos = 1);
        push(&|s| s.patches[1].enabled = true);
        push(&|s| s.patches[1].life = Life::Replaced);
        push(&|s| s.patches[0].nops = 1);
        push(&|s| s.patches[0].cb_open = u64::MAX);
        push(&|s| s.patches[0].replaced_by = 0x8001);
        push(&|s| s.patches[0].state_pre_patch_ok = 0x80);
        push(&|s| s.patches[0].pre_patch_ret = 19);
        push(&|s| s.patches[0].loads = 4);
        push(&|s| s.patches[0].force_involved = true);
        for (i, a) in variants.iter().enumerate() {
            let packed = PackedState::pack(a);
            assert_eq!(&packed.unpack(), a, "variant {i} does not round-trip");
            assert_eq!(
                fp(a),
                fp(&packed),
                "variant {i} hashes unlike its packed form"
            );
            for (j, b) in variants.iter().enumerate().skip(i + 1) {
                assert_ne!(a, b, "variants {i} and {j} are equal");
                assert_ne!(
                    packed,
                    PackedState::pack(b),
                    "variants {i} and {j} pack alike"
                );
            }
        }
        assert!(PackedState::pack(&boot).bytes().len() < 40);
    }
}
