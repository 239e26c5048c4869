// Package cli is the sselog command line: the server (serve, the default)
// and its configuration, read from flags with SSELOG_ environment
// fallbacks and validated before anything is opened, and the subcommands
// an operator uses beside it (token, publish, tail, backup, bench,
// version). Run is main without the process, so tests drive every
// subcommand in-process; it returns an error instead of exiting.
package cli
