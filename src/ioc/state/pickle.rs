//! The state files of the original tool: Python pickles, read once and then rewritten
//! as JSON. Only the shape a pickled state can have is accepted, checked before the
//! pickle is decoded.

use std::collections::BTreeMap;

use super::Raw;

/// Decodes a legacy state file into the shape both formats share; the error is the
/// detail of a file that is no pickled state.
pub(super) fn read(bytes: &[u8]) -> Result<Raw, String> {
    check_pickle(bytes)?;
    let value = serde_pickle::value_from_slice(bytes, serde_pickle::DeOptions::new())
        .map_err(|err| err.to_string())?;
    Ok(raw(value))
}

fn raw(value: serde_pickle::Value) -> Raw {
    use serde_pickle::{HashableValue, Value};
    match value {
        Value::String(text) => Raw::Text(text),
        Value::Bool(flag) => Raw::Bool(flag),
        Value::Dict(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (key, value) in map {
                match key {
                    HashableValue::String(key) => entries.push((key, raw(value))),
                    _ => return Raw::Other("a mapping with a key that is not text"),
                }
            }
            Raw::Map(entries)
        }
        Value::None => Raw::Other("None"),
        Value::I64(_) | Value::Int(_) | Value::F64(_) => Raw::Other("a number"),
        Value::Bytes(_) => Raw::Other("bytes"),
        Value::List(_) | Value::Tuple(_) => Raw::Other("a list"),
        Value::Set(_) | Value::FrozenSet(_) => Raw::Other("a set"),
    }
}

// Pickle opcodes a pickled dict of text (and bools, None, small ints) can contain,
// protocols 2–5.
pub(super) const PROTO: u8 = 0x80;
pub(super) const FRAME: u8 = 0x95;
pub(super) const STOP: u8 = b'.';
pub(super) const MARK: u8 = b'(';
pub(super) const EMPTY_DICT: u8 = b'}';
pub(super) const SETITEM: u8 = b's';
pub(super) const SETITEMS: u8 = b'u';
pub(super) const MEMOIZE: u8 = 0x94;
pub(super) const BINPUT: u8 = b'q';
pub(super) const LONG_BINPUT: u8 = b'r';
pub(super) const BINGET: u8 = b'h';
pub(super) const LONG_BINGET: u8 = b'j';
pub(super) const SHORT_BINUNICODE: u8 = 0x8c;
pub(super) const BINUNICODE: u8 = b'X';
pub(super) const BINUNICODE8: u8 = 0x8d;
pub(super) const NEWTRUE: u8 = 0x88;
pub(super) const NEWFALSE: u8 = 0x89;
pub(super) const NONE: u8 = b'N';
// Never written by the original tool; accepted so a number reads as a wrong type.
pub(super) const BININT1: u8 = b'K';
pub(super) const BININT2: u8 = b'M';
pub(super) const BININT: u8 = b'J';

/// Deepest dict nesting accepted; a valid state needs 3 (state → reasons → messages).
const MAX_DICT_DEPTH: u32 = 8;
/// Most text bytes that memo references may copy in total.
const MAX_SHARED_TEXT: usize = 1 << 20;

#[derive(Clone, Copy)]
enum Item {
    Mark,
    /// Text, bool, None or a number, with the byte length a memo copy of it costs.
    Scalar {
        len: usize,
        memoized: bool,
    },
    Dict {
        depth: u32,
        memoized: bool,
    },
}

/// Walks the pickle's opcodes before serde-pickle sees them, and accepts only what a
/// pickled dict of text can contain. serde-pickle builds and drops values recursively
/// and copies every memo reference, so a damaged or hostile file could otherwise
/// overflow the stack (deep nesting) or exhaust memory (each level holding the one
/// below twice through the memo doubles the size); neither can be turned into an error
/// afterwards.
fn check_pickle(bytes: &[u8]) -> Result<(), String> {
    let mut stack: Vec<Item> = Vec::new();
    let mut memo: BTreeMap<u32, Item> = BTreeMap::new();
    let mut shared_text = 0usize;
    let mut pos = 0usize;
    let truncated = || "truncated file".to_owned();
    let take = |pos: &mut usize, n: usize| -> Result<&[u8], String> {
        let end = pos.checked_add(n).filter(|&end| end <= bytes.len());
        let end = end.ok_or_else(truncated)?;
        let slice = &bytes[*pos..end];
        *pos = end;
        Ok(slice)
    };
    let le = |slice: &[u8]| {
        slice
            .iter()
            .rev()
            .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte))
    };
    let broken = |opcode: u8, at: usize| {
        format!("unexpected pickle content (opcode 0x{opcode:02x} at byte {at})")
    };
    loop {
        let at = pos;
        let opcode = take(&mut pos, 1)?[0];
        match opcode {
            PROTO => {
                take(&mut pos, 1)?;
            }
            FRAME => {
                take(&mut pos, 8)?;
            }
            STOP => return Ok(()),
            MARK => stack.push(Item::Mark),
            EMPTY_DICT => stack.push(Item::Dict {
                depth: 1,
                memoized: false,
            }),
            NEWTRUE | NEWFALSE | NONE | BININT1 | BININT2 | BININT => {
                let width = match opcode {
                    BININT1 => 1,
                    BININT2 => 2,
                    BININT => 4,
                    _ => 0,
                };
                take(&mut pos, width)?;
                stack.push(Item::Scalar {
                    len: 1,
                    memoized: false,
                });
            }
            SHORT_BINUNICODE | BINUNICODE | BINUNICODE8 => {
                let width = match opcode {
                    SHORT_BINUNICODE => 1,
                    BINUNICODE => 4,
                    _ => 8,
                };
                let len = usize::try_from(le(take(&mut pos, width)?)).map_err(|_| truncated())?;
                take(&mut pos, len)?;
                stack.push(Item::Scalar {
                    len,
                    memoized: false,
                });
            }
            MEMOIZE | BINPUT | LONG_BINPUT => {
                let id = match opcode {
                    // serde-pickle numbers MEMOIZE entries by the memo's size, as Python does.
                    MEMOIZE => u32::try_from(memo.len()).map_err(|_| broken(opcode, at))?,
                    BINPUT => u32::from(take(&mut pos, 1)?[0]),
                    _ => le(take(&mut pos, 4)?) as u32,
                };
                // Memoizing a memo reference makes serde-pickle copy the object; Python
                // never memoizes an object twice.
                let top = stack.last_mut().ok_or_else(|| broken(opcode, at))?;
                match top {
                    Item::Scalar { memoized, .. } | Item::Dict { memoized, .. } if !*memoized => {
                        *memoized = true;
                    }
                    _ => return Err(broken(opcode, at)),
                }
                memo.insert(id, *top);
            }
            BINGET | LONG_BINGET => {
                let id = if opcode == BINGET {
                    u32::from(take(&mut pos, 1)?[0])
                } else {
                    le(take(&mut pos, 4)?) as u32
                };
                // Only text is ever shared in a state pickle; a shared dict is how a
                // pickle multiplies its size.
                match memo.get(&id) {
                    Some(&Item::Scalar { len, .. }) => {
                        shared_text = shared_text.saturating_add(len);
                        if shared_text > MAX_SHARED_TEXT {
                            return Err(broken(opcode, at));
                        }
                        stack.push(Item::Scalar {
                            len,
                            memoized: true,
                        });
                    }
                    _ => return Err(broken(opcode, at)),
                }
            }
            SETITEM | SETITEMS => {
                let mut values = Vec::new();
                if opcode == SETITEM {
                    let value = stack.pop().ok_or_else(|| broken(opcode, at))?;
                    let key = stack.pop().ok_or_else(|| broken(opcode, at))?;
                    values.push((key, value));
                } else {
                    let mark = stack
                        .iter()
                        .rposition(|item| matches!(item, Item::Mark))
                        .ok_or_else(|| broken(opcode, at))?;
                    let items = stack.split_off(mark + 1);
                    stack.pop();
                    if !items.len().is_multiple_of(2) {
                        return Err(broken(opcode, at));
                    }
                    values.extend(items.chunks_exact(2).map(|pair| (pair[0], pair[1])));
                }
                let Some(Item::Dict { depth, .. }) = stack.last_mut() else {
                    return Err(broken(opcode, at));
                };
                for (key, value) in values {
                    match (key, value) {
                        (Item::Scalar { .. }, Item::Scalar { .. }) => {}
                        (Item::Scalar { .. }, Item::Dict { depth: inner, .. }) => {
                            *depth = (*depth).max(inner + 1);
                            if *depth > MAX_DICT_DEPTH {
                                return Err(format!(
                                    "dicts nested deeper than {MAX_DICT_DEPTH} (byte {at})"
                                ));
                            }
                        }
                        _ => return Err(broken(opcode, at)),
                    }
                }
            }
            _ => return Err(broken(opcode, at)),
        }
    }
}
