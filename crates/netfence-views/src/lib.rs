//! What netfence shows. Each view is computed as data (serialised as the stable
//! JSON documented in docs/json.md) and rendered as text; the CLI only picks one.
//! Views ask the engine; they never decide reachability themselves.

pub mod check;
pub mod describe;
pub mod describe_admin;
pub mod html;
pub mod matrix;
pub mod report;
