//! `nexis` chain commands (commit-credentials, chain status/weights/register).
