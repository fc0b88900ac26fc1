#include "benchcmd/netns_lab.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kproxy::benchcmd {

Status enterNetns(const std::string& name) {
  std::string path = "/run/netns/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error("open " + path + ": " + std::strerror(errno));
  int r = ::setns(fd, CLONE_NEWNET);
  int saved = errno;
  ::close(fd);
  if (r != 0) return Status::error("setns " + name + ": " + std::strerror(saved));
  return Status::ok();
}

NetnsLab::NetnsLab(std::string prefix, int pods) : prefix_(std::move(prefix)), pods_(pods) {}

NetnsLab::~NetnsLab() { down(); }

Status NetnsLab::must(const std::vector<std::string>& argv) {
  auto r = iptables::runProcess(argv, "");
  if (!r) return r.status();
  if (r.value().exitCode != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return Status::error(cmd + ": " + r.value().err);
  }
  return Status::ok();
}

Result<iptables::ProcessResult> NetnsLab::exec(const std::string& role, const std::vector<std::string>& argv) const {
  std::vector<std::string> full{"ip", "netns", "exec", ns(role)};
  full.insert(full.end(), argv.begin(), argv.end());
  return iptables::runProcess(full, "");
}

Status NetnsLab::up() {
  auto add = [&](const std::string& role) -> Status {
    if (Status s = must({"ip", "netns", "add", ns(role)}); !s) return s;
    made_.push_back(ns(role));
    return must({"ip", "-n", ns(role), "link", "set", "lo", "up"});
  };
  std::string node = ns("node"), client = ns("client");
  for (const char* role : {"node", "client"})
    if (Status s = add(role); !s) return s;
  std::vector<std::vector<std::string>> steps = {
      {"ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
      // Unknown destinations hairpin back to the client: no redirects eating the ICMP budget.
      {"ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0"},
      {"ip", "link", "add", "c0", "netns", node, "type", "veth", "peer", "name", "eth0", "netns", client},
      {"ip", "-n", node, "addr", "add", std::string(kNodeIP) + "/24", "dev", "c0"},
      {"ip", "-n", node, "link", "set", "c0", "up"},
      {"ip", "-n", client, "addr", "add", "10.200.0.2/24", "dev", "eth0"},
      {"ip", "-n", client, "link", "set", "eth0", "up"},
      {"ip", "-n", client, "route", "add", "default", "via", kNodeIP},
      {"ip", "-n", node, "route", "add", "default", "via", "10.200.0.2"},
  };
  for (const auto& st : steps)
    if (Status s = must(st); !s) return s;
  for (int i = 1; i <= pods_; ++i) {
    std::string role = "pod" + std::to_string(i), pod = ns(role), link = "p" + std::to_string(i);
    std::string net = "10.244." + std::to_string(i) + ".";
    if (Status s = add(role); !s) return s;
    std::vector<std::vector<std::string>> podSteps = {
        {"ip", "link", "add", link, "netns", node, "type", "veth", "peer", "name", "eth0", "netns", pod},
        {"ip", "-n", node, "addr", "add", net + "1/24", "dev", link},
        {"ip", "-n", node, "link", "set", link, "up"},
        {"ip", "-n", pod, "addr", "add", net + "2/24", "dev", "eth0"},
        {"ip", "-n", pod, "link", "set", "eth0", "up"},
        {"ip", "-n", pod, "route", "add", "default", "via", net + "1"},
    };
    for (const auto& st : podSteps)
      if (Status s = must(st); !s) return s;
  }
  return Status::ok();
}

void NetnsLab::down() {
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) (void)iptables::runProcess({"ip", "netns", "del", *it}, "");
  made_.clear();
}

}  // namespace kproxy::benchcmd
