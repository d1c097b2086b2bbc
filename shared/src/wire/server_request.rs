//! Server side: parse pipelined request heads, enforce limits, pick 4xx + close.
//! (Filled in by the server work.)
