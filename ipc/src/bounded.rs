//! A fixed-capacity vector that (de)serializes as a postcard sequence.
//!
//! The protocol is `no_std` without an allocator, so variable-length fields
//! (frame runs, listing records) live in a fixed array with a length. The
//! capacity bounds the encoded size (see [`MaxSize`]) and decoding more than
//! `N` elements is an error, not an overflow.

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;

use postcard::experimental::max_size::MaxSize;
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::wire::varint_len;

/// Up to `N` values of `T`, stored inline.
#[derive(Clone)]
pub struct BoundedVec<T: Copy + Default, const N: usize> {
    len: usize,
    items: [T; N],
}

impl<T: Copy + Default, const N: usize> BoundedVec<T, N> {
    /// The capacity.
    pub const CAPACITY: usize = N;

    /// An empty vector.
    pub fn new() -> Self {
        Self {
            len: 0,
            items: [T::default(); N],
        }
    }

    /// A copy of `items`; `None` if there are more than `N`.
    pub fn from_slice(items: &[T]) -> Option<Self> {
        let mut vec = Self::new();
        vec.items.get_mut(..items.len())?.copy_from_slice(items);
        vec.len = items.len();
        Some(vec)
    }

    /// Appends `item`; gives it back if the vector is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = item;
                self.len += 1;
                Ok(())
            }
            None => Err(item),
        }
    }

    /// Whether no more element fits.
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }
}

impl<T: Copy + Default, const N: usize> Default for BoundedVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default, const N: usize> Deref for BoundedVec<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Default + PartialEq, const N: usize> PartialEq for BoundedVec<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy + Default + Eq, const N: usize> Eq for BoundedVec<T, N> {}

impl<T: Copy + Default + fmt::Debug, const N: usize> fmt::Debug for BoundedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Copy + Default + Serialize, const N: usize> Serialize for BoundedVec<T, N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        for item in self.as_slice() {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

struct BoundedVisitor<T, const N: usize>(PhantomData<T>);

impl<'de, T: Copy + Default + Deserialize<'de>, const N: usize> Visitor<'de>
    for BoundedVisitor<T, N>
{
    type Value = BoundedVec<T, N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {N} elements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Check the announced length before reading anything: a hostile
        // length is rejected at once instead of after N elements.
        if let Some(announced) = seq.size_hint() {
            if announced > N {
                return Err(A::Error::invalid_length(announced, &self));
            }
        }
        let mut vec = BoundedVec::new();
        while let Some(item) = seq.next_element()? {
            if vec.push(item).is_err() {
                return Err(A::Error::invalid_length(N + 1, &self));
            }
        }
        Ok(vec)
    }
}

impl<'de, T: Copy + Default + Deserialize<'de>, const N: usize> Deserialize<'de>
    for BoundedVec<T, N>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(BoundedVisitor::<T, N>(PhantomData))
    }
}

impl<T: Copy + Default + MaxSize, const N: usize> MaxSize for BoundedVec<T, N> {
    /// Length prefix (a varint of at most `N`) plus `N` widest elements.
    const POSTCARD_MAX_SIZE: usize = varint_len(N) + N * T::POSTCARD_MAX_SIZE;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_bounds() {
        let mut v = BoundedVec::<u32, 2>::new();
        assert!(v.push(1).is_ok());
        assert!(v.push(2).is_ok());
        assert_eq!(v.push(3), Err(3));
        assert!(v.is_full());
        assert_eq!(&*v, &[1, 2]);
        assert!(BoundedVec::<u32, 2>::from_slice(&[1, 2, 3]).is_none());
    }

    #[test]
    fn decoding_more_than_capacity_fails() {
        let mut buf = [0u8; 16];
        let three = BoundedVec::<u32, 3>::from_slice(&[1, 2, 3]).unwrap();
        let bytes = postcard::to_slice(&three, &mut buf).unwrap();
        assert_eq!(bytes, &[3, 1, 2, 3]);
        assert!(postcard::from_bytes::<BoundedVec<u32, 2>>(bytes).is_err());
        assert_eq!(
            postcard::from_bytes::<BoundedVec<u32, 3>>(bytes).unwrap(),
            three
        );
    }
}
