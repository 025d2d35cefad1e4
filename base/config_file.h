#ifndef FEDGE_BASE_CONFIG_FILE_H_
#define FEDGE_BASE_CONFIG_FILE_H_

// A binary's settings kept in a file: `--config=FILE`.
//
// The file sets the binary's own flags, each through the flag's own parser, so
// a value means exactly what it means on the command line (durations such as
// 5m, numbers, strings) and is refused with the same message. The command
// line wins: a binary loads the file before absl::ParseCommandLine, which
// then applies the command line on top.
//
// Format (docs/config-file.md, docs/coordinator.conf):
//
//   # A comment line.
//   rounds = 200             # a comment after whitespace ends the line
//   --round_timeout=10m      # the command line's form works too
//   test_data = /srv/my data # a value may hold spaces
//   quiet                    # a boolean alone means true,
//   noinsecure               # and `no` before its name false
//
// - One setting per line: `name = value`. A leading `--` (or `-`) on the name
//   is optional and spaces around `=` are ignored.
// - `#` at the start of a line, or after a space or tab, starts a comment
//   that runs to the end of the line; a `#` inside a word (`a#b`) is kept.
//   Blank lines are ignored.
// - The value is everything after the first `=` up to a comment or the end
//   of the line, without its leading and trailing whitespace. It is taken
//   literally: no quoting or escapes, so a value cannot contain ` #`; a value
//   wrapped in quotes is refused (the quotes would become part of it). An
//   empty value (`test_data =`) sets an empty string.
// - A boolean flag may be written `name` alone (true) or `noname` (false),
//   as on the command line; `name = true|false` works too.
// - Each flag at most once per file.
//
// Errors are InvalidArgument and name the file and line, e.g.
//   coordinator.conf:12: unknown setting 'roundz'; did you mean 'rounds'?
//     (fedge-coordinator --help lists the settings)
//   coordinator.conf:3: rounds = abc: Illegal value 'abc' specified for flag 'rounds'
// Every bad line is reported (the first 20), and then no flag is changed.
//
// Not thread-safe with respect to other flag access: call from main() before
// other threads start.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fedge {

// Which flags a config file may set, by the file that defines each flag
// (absl::CommandLineFlag::Filename()): pass the predicate the binary gives
// absl::FlagsUsageConfig::contains_help_flags, so a file sets exactly what
// --help lists. Flags of other files (Abseil's own --flagfile, --help, ...;
// library flags the binary does not offer) are refused, and so is --config
// itself whatever the predicate says: a config file cannot name another.
using OwnFlagFilePredicate = std::function<bool(absl::string_view defining_file)>;

// Applies the settings in `text`, the contents of the file `file_name` (used
// only in messages), to the flags. `program` (e.g. "fedge-coordinator") is
// named in the hint of an unknown-setting error. OK, or InvalidArgument with
// one line per error ("FILE:LINE: ..."); on error no flag is changed.
absl::Status ApplyConfigText(absl::string_view text, absl::string_view file_name,
                             absl::string_view program, const OwnFlagFilePredicate& is_own);

// ApplyConfigText on the file at `path`. InvalidArgument also when the file
// cannot be read ("coordinator.conf: cannot read: open coordinator.conf: No
// such file or directory") or is larger than 1 MiB.
absl::Status ApplyConfigFile(const std::string& path, absl::string_view program,
                             const OwnFlagFilePredicate& is_own);

// For main(), before absl::ParseCommandLine(argc, argv): finds `--config=FILE`
// or `--config FILE` (also with one dash) among the arguments, stopping at a
// bare `--`, and applies FILE with ApplyConfigFile (the program named after
// argv[0]'s base name). OK when there is none, or when FILE is empty.
// InvalidArgument for a `--config` without a file, for --config given twice,
// and for the errors of ApplyConfigFile. A --config inside a --flagfile is
// not seen (only argv is scanned). argv is not modified: ParseCommandLine
// then sets --config (to the same path) and every flag given on the
// command line, overriding the file.
absl::Status LoadConfigFromArgs(int argc, char** argv, const OwnFlagFilePredicate& is_own);

}  // namespace fedge

#endif  // FEDGE_BASE_CONFIG_FILE_H_
