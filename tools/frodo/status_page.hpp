// The status page of `frodo serve` at GET / (docs/http-api.md, "The status page"): one HTML
// document with its CSS, JavaScript and SVG inline, embedded in the binary. It fetches nothing
// from elsewhere: it reads the view from GET /v1/watch (Server-Sent Events) of the sidecar that
// served it and redraws on every event. Every string of the view (addresses, zones, meta) is
// put in the page as text (textContent), never parsed as HTML.
#pragma once

#include <string>

namespace frodo::cli {

// The page, the same bytes on every call.
const std::string& status_page_html();

// The Content-Security-Policy to send with the page: the page's own script and style only
// (by their SHA-256), connections to its own origin only, no plugins, frames or forms. A
// second line of defence behind the escaping: markup that got in could still run nothing.
const std::string& status_page_csp();

}  // namespace frodo::cli
