#ifndef FEDGE_TESTS_TESTING_TEMP_DIR_H_
#define FEDGE_TESTS_TESTING_TEMP_DIR_H_

#include <stdlib.h>

#include <string>

namespace fedge::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/fedge-test-XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::string cmd = "rm -rf '" + path_ + "'";
      int ignored = system(cmd.c_str());
      (void)ignored;
    }
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_TESTING_TEMP_DIR_H_
