// kproxy's version, and the kube-proxy release whose behaviour it follows (--version, build info).
#pragma once

namespace kproxy {

inline constexpr const char* kVersion = "0.17.0";
inline constexpr const char* kKubeProxyVersion = "v1.37.0";

}  // namespace kproxy
