#include "iptables/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

extern char** environ;

namespace kproxy::iptables {

namespace {

struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  void closeEnd(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};

// argv[0] as execve wants it: looked up in PATH here, in the parent, since the vfork child may
// only make system calls.
std::string resolve(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return prog;
  const char* path = ::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + prog;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

}  // namespace

Result<ProcessResult> runProcess(const std::vector<std::string>& argv, std::string_view input) {
  if (argv.empty()) return Status::error("runProcess: empty command");
  Pipe in, out, err;
  if (::pipe2(in.fd, O_CLOEXEC) != 0 || ::pipe2(out.fd, O_CLOEXEC) != 0 || ::pipe2(err.fd, O_CLOEXEC) != 0)
    return Status::error(std::string("pipe: ") + std::strerror(errno));

  std::string exe = resolve(argv[0]);
  if (exe.empty()) return Status::error("cannot run " + argv[0] + ": " + std::strerror(ENOENT));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  // vfork (as posix_spawn does) plus what posix_spawn cannot do: the child is killed when we die
  // (PR_SET_PDEATHSIG), so an iptables-restore of a daemon that got SIGKILL does not run on,
  // holding memory and the xtables lock. Only system calls between vfork and exec.
  pid_t parent = ::getpid();
  int inFd = in.fd[0], outFd = out.fd[1], errFd = err.fd[1];
  const char* path = exe.c_str();
  char** argvp = args.data();
  pid_t pid = ::vfork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    if (::dup2(inFd, 0) < 0 || ::dup2(outFd, 1) < 0 || ::dup2(errFd, 2) < 0) ::_exit(127);
    ::execve(path, argvp, environ);
    ::_exit(127);
  }
  if (pid < 0) return Status::error("cannot run " + argv[0] + ": " + std::strerror(errno));

  in.closeEnd(0);
  out.closeEnd(1);
  err.closeEnd(1);
  ::fcntl(in.fd[1], F_SETFL, O_NONBLOCK);

  ProcessResult res;
  size_t written = 0;
  if (input.empty()) in.closeEnd(1);
  // A child that exits early closes its stdin: writing then must fail with EPIPE, not kill the
  // daemon. Ignoring SIGPIPE process-wide is what every network daemon does anyway.
  static std::once_flag ignoreSigpipe;
  std::call_once(ignoreSigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });
  char buf[65536];
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    pollfd fds[3];
    int n = 0;
    int iIn = -1, iOut = -1, iErr = -1;
    if (in.fd[1] >= 0) fds[iIn = n++] = {in.fd[1], POLLOUT, 0};
    if (out.fd[0] >= 0) fds[iOut = n++] = {out.fd[0], POLLIN, 0};
    if (err.fd[0] >= 0) fds[iErr = n++] = {err.fd[0], POLLIN, 0};
    if (::poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (iIn >= 0 && fds[iIn].revents) {
      ssize_t w = ::write(in.fd[1], input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) in.closeEnd(1);
    }
    auto drain = [&](int idx, Pipe& p, std::string& to) {
      if (idx < 0 || !fds[idx].revents) return;
      ssize_t r = ::read(p.fd[0], buf, sizeof buf);
      if (r > 0) to.append(buf, static_cast<size_t>(r));
      else if (r == 0 || (errno != EAGAIN && errno != EINTR)) p.closeEnd(0);
    };
    drain(iOut, out, res.out);
    drain(iErr, err, res.err);
  }
  in.closeEnd(1);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) res.exitCode = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) res.exitCode = 128 + WTERMSIG(status);
  return res;
}

}  // namespace kproxy::iptables
