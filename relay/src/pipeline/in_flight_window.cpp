#include "pipeline/in_flight_window.hpp"

#include <stdexcept>

namespace outbox::relay {
namespace {

constexpr size_t kSpanFactor = 4;

}  // namespace

InFlightWindow::InFlightWindow(size_t capacity) : capacity_(capacity) {
  if (capacity == 0) throw std::invalid_argument("InFlightWindow: capacity must be positive");
}

size_t InFlightWindow::room() const {
  if (live_ >= capacity_) return 0;
  const size_t by_count = capacity_ - live_;
  const size_t span_limit = kSpanFactor * capacity_;
  const size_t by_span = entries_.size() >= span_limit ? 0 : span_limit - entries_.size();
  return by_count < by_span ? by_count : by_span;
}

DeliveryToken InFlightWindow::Add(OutboxRow row) {
  if (room() == 0) throw std::logic_error("InFlightWindow::Add: the window is full");
  const DeliveryToken token{next_token_++};
  entries_.push_back(Entry{token, State::kQueued, false, 0, std::move(row)});
  ++live_;
  return token;
}

InFlightWindow::Entry* InFlightWindow::NextQueued() {
  if (send_pos_ == next_token_) return nullptr;
  return &entries_[static_cast<size_t>(send_pos_ - base_)];
}

InFlightWindow::Entry* InFlightWindow::Find(DeliveryToken token) {
  if (token.value < base_ || token.value >= next_token_) return nullptr;
  Entry& e = entries_[static_cast<size_t>(token.value - base_)];
  return e.state == State::kReleased ? nullptr : &e;
}

void InFlightWindow::MarkSent(Entry& entry) {
  if (entry.state != State::kQueued || entry.token.value != send_pos_) {
    throw std::logic_error("InFlightWindow::MarkSent: not the next queued event");
  }
  entry.state = State::kSent;
  // librdkafka copied the record: keep only what reports, holds and acks need.
  // A WAL-message event keeps its body: it exists nowhere else, and a
  // rejected one is written into the outbox table (Dispatcher::Resolve).
  if (entry.row.in_table) {
    entry.row.payload.reset();
    std::string().swap(entry.row.headers_json);
    entry.row.topic.reset();
  }
  ++send_pos_;
  ++sent_;
}

void InFlightWindow::MarkDelivered(Entry& entry) {
  if (entry.state != State::kSent) throw std::logic_error("InFlightWindow::MarkDelivered: not a sent event");
  entry.state = State::kDelivered;
  --sent_;
  ++delivered_;
}

void InFlightWindow::Release(Entry& entry) {
  switch (entry.state) {
    case State::kQueued:
      if (entry.token.value != send_pos_) throw std::logic_error("InFlightWindow::Release: queued out of order");
      ++send_pos_;
      break;
    case State::kSent:
      --sent_;
      break;
    case State::kDelivered:
      --delivered_;
      break;
    case State::kReleased:
      return;
  }
  entry.state = State::kReleased;
  --live_;
  PopReleased();
}

size_t InFlightWindow::DropQueued() {
  const size_t n = queued();
  for (size_t i = 0; i < n; ++i) entries_.pop_back();
  live_ -= n;
  next_token_ = send_pos_;
  PopReleased();
  return n;
}

void InFlightWindow::PopReleased() {
  while (!entries_.empty() && entries_.front().state == State::kReleased) {
    entries_.pop_front();
    ++base_;
  }
  if (entries_.empty()) base_ = next_token_;
}

}  // namespace outbox::relay
