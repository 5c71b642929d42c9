//! Python values → nanoBragg command-line tokens.
//!
//! Everything the Python module accepts is turned into the tokens a user would type, so the
//! command line's parser ([`crate::cli::parse`]) and converter ([`crate::cli::to_job`]) do all
//! the spelling, unit and validity checks, with the command line's messages.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString};

/// A command line given as one string (split on whitespace) or as a sequence of tokens (each a
/// `str`, a number or an `os.PathLike`).
pub(super) fn argv(args: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = args.cast::<PyString>() {
        return Ok(s.to_cow()?.split_whitespace().map(String::from).collect());
    }
    if args.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "args must be a str or a sequence of str, not bytes",
        ));
    }
    let items = args.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "args must be a str or a sequence of str, not {}",
            type_name(args)
        ))
    })?;
    items
        .map(|item| value_token(&item?, "args"))
        .collect::<PyResult<Vec<String>>>()
}

/// Keyword arguments in nanoBragg's spellings → tokens, in the order given: `name=value` →
/// `-name value`, a sequence → `-name v1 v2 …`, `True` → `-name`, `False` and `None` → nothing.
/// One trailing underscore is dropped from the name (`lambda_=1.0` → `-lambda 1.0`).
pub(super) fn keyword_tokens(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<String>> {
    let mut tokens = Vec::new();
    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs.iter() {
            let key: String = key.extract()?;
            option_tokens(&key, &value, &mut tokens)?;
        }
    }
    Ok(tokens)
}

/// The tokens of one keyword argument, appended to `tokens`.
pub(super) fn option_tokens(
    key: &str,
    value: &Bound<'_, PyAny>,
    tokens: &mut Vec<String>,
) -> PyResult<()> {
    let name = key.strip_suffix('_').unwrap_or(key);
    if name.is_empty() {
        return Err(PyTypeError::new_err(format!(
            "{key:?} is not a nanoBragg option name"
        )));
    }
    let flag = format!("-{name}");
    if value.is_none() {
        return Ok(());
    }
    if let Ok(b) = value.cast::<PyBool>() {
        if b.is_true() {
            tokens.push(flag);
        }
        return Ok(());
    }
    if is_single_value(value)? {
        tokens.push(flag);
        tokens.push(value_token(value, key)?);
        return Ok(());
    }
    let items = value.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "{key}: expected a number, a str, a path, a bool or a sequence of numbers, not {}",
            type_name(value)
        ))
    })?;
    tokens.push(flag);
    for item in items {
        tokens.push(value_token(&item?, key)?);
    }
    Ok(())
}

/// Whether `value` is one value (a str, a path or a number) rather than a sequence of them.
fn is_single_value(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if value.is_instance_of::<PyString>()
        || value.is_instance_of::<PyInt>()
        || value.is_instance_of::<PyFloat>()
        || value.hasattr("__fspath__")?
    {
        return Ok(true);
    }
    // NumPy scalars and 0-d arrays are numbers that cannot be iterated.
    Ok(value.try_iter().is_err())
}

/// One token: a str as it is, a path through `os.fspath`, a number as `str()` writes it (the
/// shortest text that reads back as the same float).
fn value_token(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    let wrong = || {
        PyTypeError::new_err(format!(
            "{what}: expected a number, a str or a path, not {}",
            type_name(value)
        ))
    };
    if value.is_instance_of::<PyBool>() || value.is_instance_of::<PyBytes>() {
        return Err(wrong());
    }
    if value.hasattr("__fspath__")? {
        let path = value.call_method0("__fspath__")?;
        return match path.cast::<PyString>() {
            Ok(s) => Ok(s.to_cow()?.into_owned()),
            Err(_) => Err(wrong()),
        };
    }
    let number = value.is_instance_of::<PyInt>()
        || value.is_instance_of::<PyFloat>()
        || ((value.hasattr("__float__")? || value.hasattr("__index__")?)
            && value.try_iter().is_err());
    if number {
        return Ok(value.str()?.to_cow()?.into_owned());
    }
    Err(wrong())
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}
