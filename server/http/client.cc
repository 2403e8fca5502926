#include "http/client.h"

#include <atomic>

namespace gengate::http {

std::string_view ResponseHead::Find(std::string_view lower_name) const {
  for (const Header& header : headers) {
    if (header.name == lower_name) return header.value;
  }
  return {};
}

TransferId Client::NewTransferId() {
  static std::atomic<TransferId> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace gengate::http
