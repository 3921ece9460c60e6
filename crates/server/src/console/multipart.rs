//! Console forms sent as `multipart/form-data` (those with file inputs, for PEM files) are
//! turned into the URL-encoded text the other forms send, so one set of form types reads
//! both. A file chosen for `x_file` stands in for the text field `x`.

use futures_util::stream;
use zeroize::Zeroizing;

use super::ConsoleError;

/// Most fields a console form has.
const MAX_FIELDS: usize = 64;

/// Whether the request's body is multipart, and its boundary if so.
pub(super) fn boundary(content_type: Option<&str>) -> Option<String> {
    let content_type = content_type?;
    content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
        .then(|| multer::parse_boundary(content_type).ok())
        .flatten()
}

/// The multipart `body` as URL-encoded text in a wiped-on-drop buffer. The body was already
/// read whole within the form's limit, so parsing it holds no more than twice that.
pub(super) async fn to_urlencoded(
    body: Zeroizing<Vec<u8>>,
    boundary: &str,
) -> Result<Zeroizing<Vec<u8>>, ConsoleError> {
    let limit = body.len();
    // The buffer goes to the parser as is and is wiped when the parser lets it go.
    let bytes = bytes::Bytes::from_owner(body);
    let chunks = stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limit as u64)
            .per_field(limit as u64),
    );
    let mut parts = multer::Multipart::with_constraints(chunks, boundary, constraints);
    let mut fields: Vec<(String, Zeroizing<String>)> = Vec::new();
    let mut files: Vec<(String, Zeroizing<String>)> = Vec::new();
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(|_| ConsoleError::BadForm)?
    {
        if fields.len() + files.len() >= MAX_FIELDS {
            return Err(ConsoleError::BadForm);
        }
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = field.file_name().is_some();
        let raw = field.bytes().await.map_err(|_| ConsoleError::BadForm)?;
        let text = Zeroizing::new(
            std::str::from_utf8(&raw)
                .map_err(|_| ConsoleError::BadForm)?
                .to_owned(),
        );
        match (is_file, name.strip_suffix("_file")) {
            // No file chosen: the browser sends an empty part.
            (true, Some(_)) if text.trim().is_empty() => {}
            (true, Some(target)) => files.push((target.to_owned(), text)),
            (true, None) => return Err(ConsoleError::BadForm),
            (false, _) => fields.push((name, text)),
        }
    }
    for (target, text) in files {
        fields.retain(|(name, _)| *name != target);
        fields.push((target, text));
    }
    // Sized for the worst case (every byte percent-encoded), so it never reallocates and
    // leaves no unwiped copy behind.
    let mut out = Zeroizing::new(String::with_capacity(3 * limit + 16));
    {
        let mut encoded = form_urlencoded::Serializer::new(&mut *out);
        for (name, value) in &fields {
            encoded.append_pair(name, value);
        }
        encoded.finish();
    }
    Ok(Zeroizing::new(std::mem::take(&mut *out).into_bytes()))
}
