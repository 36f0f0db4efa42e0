#pragma once
// A fault injector for the judge's HTTP client: a loopback server on raw sockets whose handler
// decides, request by request, the exact bytes that go back -- a malformed body, a status, nothing
// at all (the connection closed), or a reply after a pause longer than the client's timeout. Raw
// sockets because a closed connection or a half-written reply must be exactly that; a real HTTP
// server library would answer properly. It answers no judge questions itself beyond what a test
// writes into a handler; the judge's real answers come from quantlab serve.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace quantlab::test {

struct FaultRequest {
  std::string method, path, body;
};

// An HTTP/1.1 reply with a Content-Length body.
inline std::string http_reply(int status, const std::string& body, const std::string& extra_headers = {}) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n" + extra_headers + "\r\n" + body;
}

// A chat completion whose answer is `content`.
inline std::string chat_reply(const std::string& content) {
  const std::string body = R"({"id":"x","object":"chat.completion","model":"fault","choices":[{"index":0,"message":{"role":"assistant","content":)" +
                           nlohmann::json(content).dump() + R"(},"finish_reason":"stop"}]})";
  return http_reply(200, body);
}

inline std::string models_reply(const std::string& id) {
  return http_reply(200, R"({"object":"list","data":[{"id":)" + nlohmann::json(id).dump() + R"(,"object":"model"}]})");
}

class FaultServer {
 public:
  // `handler(n, request)`: the bytes to send for the n-th request (0-based); "" closes the connection
  // without a byte. It may sleep first.
  using Handler = std::function<std::string(int n, const FaultRequest& request)>;

  explicit FaultServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 64);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~FaultServer() {
    stop_ = true;
    accept_thread_.join();
    for (std::thread& t : workers_) t.join();
    ::close(fd_);
  }
  FaultServer(const FaultServer&) = delete;
  FaultServer& operator=(const FaultServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return count_; }
  std::vector<FaultRequest> seen() {
    std::lock_guard<std::mutex> l(mutex_);
    return seen_;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      workers_.emplace_back([this, c] { serve(c); });
    }
  }

  void serve(int c) {
    std::string in;
    char buf[8192];
    size_t head_end = std::string::npos, want = 0;
    while (true) {
      if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
        const size_t cl = in.find("Content-Length: ");
        want = head_end + 4 + (cl != std::string::npos && cl < head_end ? std::stoul(in.substr(cl + 16)) : 0);
      }
      if (head_end != std::string::npos && in.size() >= want) break;
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, size_t(n));
    }
    FaultRequest r;
    if (head_end != std::string::npos) {
      const size_t sp1 = in.find(' '), sp2 = in.find(' ', sp1 + 1);
      r.method = in.substr(0, sp1);
      r.path = in.substr(sp1 + 1, sp2 - sp1 - 1);
      r.body = in.substr(head_end + 4);
    }
    int n = 0;
    {
      std::lock_guard<std::mutex> l(mutex_);
      n = count_++;
      seen_.push_back(r);
    }
    const std::string out = handler_(n, r);
    for (size_t at = 0; at < out.size();) {
      const ssize_t k = ::send(c, out.data() + at, out.size() - at, MSG_NOSIGNAL);
      if (k <= 0) break;
      at += size_t(k);
    }
    ::shutdown(c, SHUT_RDWR);
    ::close(c);
  }

  Handler handler_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> count_{0};
  std::mutex mutex_;
  std::vector<FaultRequest> seen_;
  std::thread accept_thread_;
  std::vector<std::thread> workers_;
};

}  // namespace quantlab::test
