#pragma once
// A deliberately small HTTP/1.1 client on raw sockets for the server tests: it sends exactly the
// bytes a test writes (malformed requests included), can hang up midway, and de-chunks replies.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace quantlab::test {

struct HttpReply {
  int status = 0;  // 0: no status line came back
  std::string headers, body;
};

class RawConnection {
 public:
  explicit RawConnection(int port, int timeout_s = 120) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{timeout_s, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConnection() { close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  bool send(const std::string& bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += size_t(n);
    }
    return true;
  }
  // Reads until `what` has arrived (true) or the peer closed / timed out (false).
  bool read_until(const std::string& what) {
    while (received_.find(what) == std::string::npos)
      if (!read_some()) return false;
    return true;
  }
  bool read_some() {
    char buf[8192];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    received_.append(buf, size_t(n));
    return true;
  }
  const std::string& received() const { return received_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string received_;
};

inline std::string request_bytes(const std::string& method, const std::string& path, const std::string& body) {
  return method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

inline HttpReply parse_reply(const std::string& raw) {
  HttpReply r;
  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  r.headers = raw.substr(0, head_end);
  std::string rest = raw.substr(head_end + 4);
  if (r.headers.find("Transfer-Encoding: chunked") == std::string::npos) {
    r.body = rest;
    return r;
  }
  for (size_t at = 0;;) {
    const size_t eol = rest.find("\r\n", at);
    if (eol == std::string::npos) break;
    const size_t n = std::stoul(rest.substr(at, eol - at), nullptr, 16);
    if (n == 0) break;
    r.body += rest.substr(eol + 2, n);
    at = eol + 2 + n + 2;
  }
  return r;
}

// One request on a fresh connection, read to the end.
inline HttpReply http(int port, const std::string& method, const std::string& path, const std::string& body = {}) {
  RawConnection c(port);
  if (!c.connected() || !c.send(request_bytes(method, path, body))) return {};
  while (c.read_some()) {
  }
  return parse_reply(c.received());
}

inline HttpReply post(int port, const std::string& path, const nlohmann::json& body) {
  return http(port, "POST", path, body.dump());
}

// The JSON objects of a server-sent-event stream ("data: {...}" lines); `done` tells whether it
// ended with "data: [DONE]".
inline std::vector<nlohmann::json> sse_events(const std::string& body, bool& done) {
  std::vector<nlohmann::json> events;
  done = false;
  size_t at = 0;
  while (at < body.size()) {
    size_t end = body.find("\n\n", at);
    if (end == std::string::npos) end = body.size();
    const std::string event = body.substr(at, end - at);
    at = end + 2;
    if (event.rfind("data: ", 0) != 0) continue;
    const std::string data = event.substr(6);
    if (data == "[DONE]") done = true;
    else events.push_back(nlohmann::json::parse(data));
  }
  return events;
}

}  // namespace quantlab::test
