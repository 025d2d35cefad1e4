#ifndef FEDGE_OPS_STATUS_PAGE_H_
#define FEDGE_OPS_STATUS_PAGE_H_

// The status page served at "/": ops/status_page.html, embedded at build time
// (ops/CMakeLists.txt), self-contained: it fetches only /status from the
// coordinator that served it.

namespace fedge::ops {

const char* StatusPageHtml();

}  // namespace fedge::ops

#endif  // FEDGE_OPS_STATUS_PAGE_H_
