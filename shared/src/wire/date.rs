//! The Date header value, owned by one worker and refreshed once a second.
//! (Filled in by the server work.)
