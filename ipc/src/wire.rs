//! Helpers that give enums and flag sets explicit wire numbers.
//!
//! serde's derive would encode an enum by its declaration index, so a
//! reordering would silently renumber the wire. These macros encode the
//! explicit discriminant instead and reject unknown values while decoding.

/// An enum of unit variants encoded as its explicit `u8`/`u16` number.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $repr:ty {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr($repr)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The wire number.
            #[inline]
            pub const fn to_wire(self) -> $repr {
                self as $repr
            }

            /// Decodes a wire number; `None` if unknown.
            pub const fn from_wire(value: $repr) -> Option<Self> {
                match value {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(&self.to_wire(), serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <$repr as serde::Deserialize>::deserialize(deserializer)?;
                Self::from_wire(value).ok_or_else(|| {
                    serde::de::Error::invalid_value(
                        serde::de::Unexpected::Unsigned(u64::from(value)),
                        &stringify!($name),
                    )
                })
            }
        }

        impl postcard::experimental::max_size::MaxSize for $name {
            const POSTCARD_MAX_SIZE: usize =
                <$repr as postcard::experimental::max_size::MaxSize>::POSTCARD_MAX_SIZE;
        }
    };
}

/// A `u8` bit set whose unknown bits are a decoding error (a newer client's
/// flag must not be silently ignored by an older server).
macro_rules! wire_flags {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$fmeta:meta])* const $flag:ident = $value:literal;)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
        pub struct $name(u8);

        impl $name {
            $($(#[$fmeta])* pub const $flag: Self = Self($value);)+
            /// No flag set.
            pub const NONE: Self = Self(0);
            const KNOWN: u8 = 0 $(| $value)+;

            /// Builds a set from bits; `None` if an unknown bit is set.
            pub const fn from_bits(bits: u8) -> Option<Self> {
                if bits & !Self::KNOWN == 0 {
                    Some(Self(bits))
                } else {
                    None
                }
            }
            /// Keeps only known bits.
            pub const fn from_bits_truncate(bits: u8) -> Self {
                Self(bits & Self::KNOWN)
            }
            /// The raw bits.
            pub const fn bits(self) -> u8 {
                self.0
            }
            /// Whether every flag of `other` is set.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
            /// Union.
            #[must_use]
            pub const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_u8(self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let bits = <u8 as serde::Deserialize>::deserialize(deserializer)?;
                Self::from_bits(bits).ok_or_else(|| {
                    serde::de::Error::invalid_value(
                        serde::de::Unexpected::Unsigned(u64::from(bits)),
                        &stringify!($name),
                    )
                })
            }
        }

        impl postcard::experimental::max_size::MaxSize for $name {
            const POSTCARD_MAX_SIZE: usize = 1;
        }
    };
}

/// Bytes of the postcard varint encoding of `value` (7 bits per byte).
pub(crate) const fn varint_len(mut value: usize) -> usize {
    let mut bytes = 1;
    while value >= 0x80 {
        value >>= 7;
        bytes += 1;
    }
    bytes
}

/// The larger of two sizes (const-context `max`).
pub(crate) const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

pub(crate) use wire_enum;
pub(crate) use wire_flags;
