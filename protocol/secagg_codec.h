#ifndef FEDGE_PROTOCOL_SECAGG_CODEC_H_
#define FEDGE_PROTOCOL_SECAGG_CODEC_H_

// Internal to protocol/: the body encoding of the secure-aggregation messages
// (SecAggToServer, SecAggToClient) and of Task.secure, used by codec.cc.
//
// A SecAgg body is a one-byte tag (1 + the std::variant index) followed by
// the message's fields. Fixed-size keys and session ids are raw bytes; lists
// have a uint64 length prefix checked against DecodeLimits::max_secagg_clients
// and against the bytes that remain before anything is allocated. Semantic
// checks (indices in range, lengths matching the config) are left to the
// SecAgg state machines, which must treat every message as untrusted anyway.

#include "protocol/body_archive.h"
#include "protocol/codec.h"
#include "protocol/messages.h"

namespace fedge::protocol::internal {

void Write(BodyWriter& w, const SecureAggregationTask& m);
void Write(BodyWriter& w, const SecAggToServer& m);
void Write(BodyWriter& w, const SecAggToClient& m);

// WireFormatError on malformed bytes (unknown tag or enum, lengths over the limits).
void Read(BodyReader& r, const DecodeLimits& lim, SecureAggregationTask& m);
void Read(BodyReader& r, const DecodeLimits& lim, SecAggToServer& m);
void Read(BodyReader& r, const DecodeLimits& lim, SecAggToClient& m);

// Bytes a SecAgg message will roughly take, to reserve the frame once.
size_t SecAggSizeHint(const Message& m);

}  // namespace fedge::protocol::internal

#endif  // FEDGE_PROTOCOL_SECAGG_CODEC_H_
