//! A fixed-capacity vector stored inline and `Copy`: the kernel's bounded
//! lists of the state (a func_stack, `klp_patches`, a task's frames), so that
//! a task or a whole record copies as plain bytes.
//!
//! Why not `SmallVec`: its derived `Clone` clones element by element
//! through `Extend`, and nested ones (frames inside tasks inside the state)
//! made cloning a state cost ~170 ns, a quarter of the search (issue 13).
//! Every list here has a bound the scenario enforces (`MAX_DEPTH` frames,
//! `MAX_PATCHES` patches), so a fixed array holds it.
//!
//! Unused slots are always `T::default()`, so two vectors with equal
//! elements are equal arrays; equality, ordering and hashing still look at
//! the live elements only.

use std::fmt;
use std::ops::{Deref, DerefMut};

#[derive(Clone, Copy)]
pub struct InlineVec<T: Copy + Default, const N: usize> {
    len: u8,
    items: [T; N],
}

impl<T: Copy + Default, const N: usize> InlineVec<T, N> {
    pub fn new() -> Self {
        const { assert!(N <= u8::MAX as usize) };
        InlineVec {
            len: 0,
            items: [T::default(); N],
        }
    }

    pub const CAPACITY: usize = N;

    /// Appends `x`. Panics when full: every caller stays within a bound
    /// the scenario compiler enforces, so a full list is a model bug.
    #[inline]
    pub fn push(&mut self, x: T) {
        assert!((self.len as usize) < N, "InlineVec of {N} is full");
        self.items[self.len as usize] = x;
        self.len += 1;
    }

    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let x = self.items[self.len as usize];
        self.items[self.len as usize] = T::default();
        Some(x)
    }

    /// Inserts `x` at `at`, shifting the rest up (as `Vec::insert`).
    pub fn insert(&mut self, at: usize, x: T) {
        let len = self.len as usize;
        assert!(at <= len && len < N, "InlineVec insert out of range");
        self.items.copy_within(at..len, at + 1);
        self.items[at] = x;
        self.len += 1;
    }

    /// Removes and returns the element at `at`, shifting the rest down (as
    /// `Vec::remove`).
    pub fn remove(&mut self, at: usize) -> T {
        let len = self.len as usize;
        assert!(at < len, "InlineVec remove out of range");
        let x = self.items[at];
        self.items.copy_within(at + 1..len, at);
        self.items[len - 1] = T::default();
        self.len -= 1;
        x
    }

    /// Keeps the elements for which `keep` holds, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let len = self.len as usize;
        let mut kept = 0;
        for i in 0..len {
            let x = self.items[i];
            if keep(&x) {
                self.items[kept] = x;
                kept += 1;
            }
        }
        for slot in &mut self.items[kept..len] {
            *slot = T::default();
        }
        self.len = kept as u8;
    }

    pub fn clear(&mut self) {
        self.retain(|_| false);
    }

    #[inline]
    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len as usize]
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.items[..self.len as usize]
    }
}

impl<T: Copy + Default, const N: usize> Default for InlineVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default, const N: usize> Deref for InlineVec<T, N> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Default, const N: usize> DerefMut for InlineVec<T, N> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Copy + Default + PartialEq, const N: usize> PartialEq for InlineVec<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy + Default + Eq, const N: usize> Eq for InlineVec<T, N> {}

impl<T: Copy + Default + PartialOrd, const N: usize> PartialOrd for InlineVec<T, N> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.as_slice().partial_cmp(other.as_slice())
    }
}

impl<T: Copy + Default + Ord, const N: usize> Ord for InlineVec<T, N> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl<T: Copy + Default + std::hash::Hash, const N: usize> std::hash::Hash for InlineVec<T, N> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_slice().hash(h)
    }
}

impl<T: Copy + Default + fmt::Debug, const N: usize> fmt::Debug for InlineVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Copy + Default, const N: usize> FromIterator<T> for InlineVec<T, N> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v = Self::new();
        v.extend(iter);
        v
    }
}

impl<T: Copy + Default, const N: usize> Extend<T> for InlineVec<T, N> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for x in iter {
            self.push(x);
        }
    }
}

/// By value (the vector is `Copy`): `for p in s.klp_patches.clone()` walks
/// a copy while the loop body changes the list.
impl<T: Copy + Default, const N: usize> IntoIterator for InlineVec<T, N> {
    type Item = T;
    type IntoIter = std::iter::Take<std::array::IntoIter<T, N>>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter().take(self.len as usize)
    }
}

impl<'a, T: Copy + Default, const N: usize> IntoIterator for &'a InlineVec<T, N> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a, T: Copy + Default, const N: usize> IntoIterator for &'a mut InlineVec<T, N> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_vec_and_keeps_unused_slots_default() {
        let mut v: InlineVec<u8, 8> = InlineVec::new();
        let mut w: Vec<u8> = Vec::new();
        for x in [3, 1, 4] {
            v.push(x);
            w.push(x);
        }
        v.insert(1, 9);
        w.insert(1, 9);
        v.insert(0, 7);
        w.insert(0, 7);
        assert_eq!(v.remove(0), w.remove(0));
        assert_eq!(v.as_slice(), &w[..]);
        v.retain(|&x| x != 1);
        w.retain(|&x| x != 1);
        assert_eq!(v.as_slice(), &w[..]);
        assert_eq!(v.pop(), w.pop());
        assert_eq!(v.as_slice(), &w[..]);
        // Equal contents, equal bytes: the removed slots went back to 0.
        let fresh: InlineVec<u8, 8> = [3, 9].into_iter().collect();
        assert_eq!(v, fresh);
        assert_eq!(v.items, fresh.items);
        v.clear();
        assert!(v.is_empty());
        assert_eq!(v.items, [0; 8]);
    }

    #[test]
    #[should_panic(expected = "full")]
    fn a_full_vector_refuses_a_push() {
        let mut v: InlineVec<u8, 1> = InlineVec::new();
        v.push(1);
        v.push(2);
    }
}
