#include "iptables/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace kproxy::iptables {
namespace {

TEST(Subprocess, FeedsStdinAndCapturesBothStreams) {
  std::string big(3 << 20, 'x');  // larger than any pipe buffer: needs the poll loop
  auto r = runProcess({"cat"}, big);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r.value().exitCode, 0);
  EXPECT_EQ(r.value().out.size(), big.size());

  auto e = runProcess({"sh", "-c", "echo oops >&2; exit 3"}, "");
  ASSERT_TRUE(e);
  EXPECT_EQ(e.value().exitCode, 3);
  EXPECT_EQ(e.value().err, "oops\n");
}

TEST(Subprocess, ChildThatIgnoresInputDoesNotKillUs) {
  auto r = runProcess({"true"}, std::string(4 << 20, 'x'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().exitCode, 0);
}

TEST(Subprocess, MissingProgramIsAnError) {
  auto r = runProcess({"kproxy-no-such-program"}, "");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("kproxy-no-such-program"), std::string::npos);
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

// A daemon killed with SIGKILL used to leave its iptables-restore running for minutes. A process
// that runs a child through runProcess is killed here; the child must die with it.
TEST(Subprocess, ChildrenDieWithTheirParent) {
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t parent = ::fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    ::close(pipefd[0]);
    // The child tells us its pid, then sleeps; runProcess waits for it.
    std::string fd = std::to_string(pipefd[1]);
    (void)runProcess({"sh", "-c", "echo $$ >&" + fd + "; exec sleep 60"}, "");
    ::_exit(0);
  }
  ::close(pipefd[1]);
  char buf[32] = {};
  ssize_t n = ::read(pipefd[0], buf, sizeof buf - 1);
  ::close(pipefd[0]);
  ASSERT_GT(n, 0);
  pid_t child = static_cast<pid_t>(std::stol(buf));
  ASSERT_TRUE(alive(child));
  ::kill(parent, SIGKILL);
  ::waitpid(parent, nullptr, 0);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    // The orphan is reaped by init (or a subreaper): "gone" is no process, or a zombie.
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string line;
    gone = !std::getline(stat, line) || line.find(") Z ") != std::string::npos;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "child " << child << " outlived its parent";
  if (!gone) ::kill(child, SIGKILL);
}

}  // namespace
}  // namespace kproxy::iptables
