#include "tests/support/files.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace defender::testing {

TempDir::TempDir() {
  const char* tmp = getenv("TMPDIR");
  std::string tmpl =
      std::string(tmp && *tmp ? tmp : "/tmp") + "/defender-test.XXXXXX";
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  path_ = tmpl;
  REQUIRE(chmod(path_.c_str(), 0755) == 0);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, const std::string& text,
                           int mode) const {
  const std::string path = *this / name;
  WriteFile(path, text, mode);
  return path;
}

void WriteFile(const std::string& path, const std::string& text, int mode) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  REQUIRE_MESSAGE(fd >= 0, path << ": " << strerror(errno));
  const bool written =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool moded = fchmod(fd, static_cast<mode_t>(mode)) == 0;
  close(fd);
  REQUIRE_MESSAGE(written, path << ": short write");
  REQUIRE_MESSAGE(moded, path << ": chmod: " << strerror(errno));
}

std::string ReadFile(const std::string& path) {
  FILE* f = fopen(path.c_str(), "rbe");
  if (!f) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

std::string SourcePath(const std::string& relative) {
  const char* root = getenv("DEFENDER_SOURCE_ROOT");
  return std::string(root && *root ? root : DEFENDER_SOURCE_ROOT_DEFAULT) +
         "/" + relative;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

bool Mapped(const std::string& text) {
  std::istringstream maps(ReadFile("/proc/self/maps"));
  for (std::string line; std::getline(maps, line);) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace defender::testing
