//! ggml block codecs and file-type rules (issue 6).
