-- Hostile input: every case gets its exact answer, and a normal request succeeds after it.
local gateway = require "helpers.gateway"
local socket = require "socket"

local F = gateway.fault
local function call(name, params_xml) return gateway.methodcall(name, params_xml) end
local function post(body, headers) return gateway.post_request(body, headers) end
local function cancel(id_text) return post(call("cancel_task", "<task_id>" .. id_text .. "</task_id>")) end
local function doc(xml) return post(xml) end

local function chunked(body)
  return string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n" ..
    "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", #body, body)
end

-- A chunked request whose body bytes (and Transfer-Encoding value) are given as they are sent.
local function chunked_raw(body_bytes, coding)
  return "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n" ..
    "Transfer-Encoding: " .. (coding or "chunked") .. "\r\n\r\n" .. body_bytes
end

local function utf16le(text)
  return "\xFF\xFE" .. text:gsub(".", function(c) return c .. "\0" end)
end
local function utf16be(text)
  return "\xFE\xFF" .. text:gsub(".", function(c) return "\0" .. c end)
end
local function ucs4be(text)
  return text:gsub(".", function(c) return "\0\0\0" .. c end)
end
local function declared(encoding, xml)
  return '<?xml version="1.0" encoding="' .. encoding .. '"?>' .. xml
end
-- n copies of format (given the index), joined by sep.
local function list(n, format, sep)
  local items = {}
  for i = 1, n do items[i] = string.format(format, i) end
  return table.concat(items, sep)
end
-- A cancel of task 987654 whose root element holds n attributes, each with value.
local function with_attributes(n, value)
  return "<methodcall " .. list(n, 'a%d="' .. value .. '"', " ") .. "><name>cancel_task</name><params><task_id>987654</task_id></params></methodcall>"
end
local CANCEL_987654 = "<methodcall><name>cancel_task</name><params><task_id>987654</task_id></params></methodcall>"

local nested = string.rep("<a>", 10000) .. string.rep("</a>", 10000)
local many = string.rep("<a/>", 200000)
local laughs = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">' ..
  '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>' ..
  "<methodcall><name>cancel_task</name><params><task_id>&d;</task_id></params></methodcall>"
local quadratic = '<?xml version="1.0"?><!DOCTYPE q [<!ENTITY x "' .. string.rep("x", 50000) .. '">]>' ..
  "<methodcall><name>cancel_task</name><params><task_id>" .. string.rep("&x;", 1000) .. "</task_id></params></methodcall>"

-- { name, request bytes, expected status, expected body (exact string) or nil for "any" }
local cases = {
  -- XML
  { "an unclosed element", doc("<methodcall><name>cancel_task</name><params>"), 200, F(1900) },
  { "truncated XML", doc("<methodcall><name>cancel_ta"), 200, F(1900) },
  { "mismatched tags", doc("<methodcall><name>cancel_task</nom></methodcall>"), 200, F(1900) },
  { "two root elements", doc("<methodcall><name>cancel_task</name></methodcall><methodcall/>"), 200, F(1900) },
  { "text after the root", doc("<methodcall><name>cancel_task</name></methodcall>junk"), 200, F(1900) },
  { "an empty body", doc(""), 200, F(1900) },
  { "only a declaration", doc('<?xml version="1.0"?>'), 200, F(1900) },
  { "a wrong root element", doc("<methodCall><name>cancel_task</name></methodCall>"), 200, F(1900) },
  { "a missing <name>", doc("<methodcall><params><task_id>5</task_id></params></methodcall>"), 200, F(1900) },
  { "a <name> with elements inside", doc("<methodcall><name><x/></name></methodcall>"), 200, F(1900) },
  { "two <name>s", doc("<methodcall><name>cancel_task</name><name>x</name></methodcall>"), 200, F(1900) },
  { "two <params>", doc("<methodcall><name>cancel_task</name><params/><params/></methodcall>"), 200, F(1900) },
  { "a DOCTYPE with an internal entity", doc('<!DOCTYPE m [<!ENTITY e "5">]><methodcall><name>cancel_task</name><params><task_id>&e;</task_id></params></methodcall>'), 200, F(1900) },
  { "XXE reading file:///etc/passwd", doc('<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><methodcall><name>&x;</name></methodcall>'), 200, F(1900) },
  { "an external DTD", doc('<?xml version="1.0"?><!DOCTYPE methodcall SYSTEM "http://127.0.0.1:1/x.dtd"><methodcall><name>cancel_task</name></methodcall>'), 200, F(1900) },
  { "a parameter entity", doc('<?xml version="1.0"?><!DOCTYPE m [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><methodcall/>'), 200, F(1900) },
  { "billion laughs", doc(laughs), 200, F(1900) },
  { "quadratic entity blow-up", doc(quadratic), 200, F(1900) },
  { "an undeclared entity", doc("<methodcall><name>&nope;</name></methodcall>"), 200, F(1900) },
  { "10,000-deep nesting", doc("<methodcall><name>cancel_task</name><params>" .. nested .. "</params></methodcall>"), 200, F(1900) },
  { "200,000 elements", doc("<methodcall><name>cancel_task</name><params>" .. many .. "</params></methodcall>"), 200, F(1900) },
  { "invalid UTF-8 in the method name", doc("<methodcall><name>cancel\xC3\x28task</name></methodcall>"), 200, F(1900) },
  { "invalid UTF-8 in a value", doc("<methodcall><name>cancel_task</name><params><task_id>5\xFF</task_id></params></methodcall>"), 200, F(1900) },
  { "a NUL byte in the body", doc("<methodcall><name>cancel_task</name><params><task_id>5\0</task_id></params></methodcall>"), 200, F(1900) },
  { "an unknown encoding", doc('<?xml version="1.0" encoding="X-NONSENSE"?><methodcall><name>cancel_task</name></methodcall>'), 200, F(1900) },
  -- encodings: the interface documents UTF-8 and ISO-8859-1; every other one is refused, declared
  -- or detected, even one libxml2 could read (docs/interface.md, "XML")
  { "a UTF-16 body with a byte-order mark", doc(utf16le(declared("UTF-16", CANCEL_987654))), 200, F(1900) },
  { "a UTF-16 body with a byte-order mark and no declaration", doc(utf16le(CANCEL_987654)), 200, F(1900) },
  { "a UTF-16 body with a byte-order mark declared UTF-8", doc(utf16le(declared("UTF-8", CANCEL_987654))), 200, F(1900) },
  { "a UTF-16BE body with a byte-order mark", doc(utf16be(CANCEL_987654)), 200, F(1900) },
  { "a UCS-4 body", doc(ucs4be(CANCEL_987654)), 200, F(1900) },
  { "a body declared UTF-16 in single bytes", doc(declared("UTF-16", CANCEL_987654)), 200, F(1900) },
  { "a body declared windows-1252", doc(declared("windows-1252", CANCEL_987654)), 200, F(1900) },
  { "a body declared ISO-8859-2", doc(declared("ISO-8859-2", CANCEL_987654)), 200, F(1900) },
  { "a body declared ISO-8859-15", doc(declared("iso-8859-15", CANCEL_987654)), 200, F(1900) },
  { "a body declared Shift_JIS", doc(declared("Shift_JIS", CANCEL_987654)), 200, F(1900) },
  { "a body declared EBCDIC", doc(declared("IBM037", CANCEL_987654)), 200, F(1900) },
  { "a body declared UTF-7", doc(declared("UTF-7", CANCEL_987654)), 200, F(1900) },
  { "a body declared UTF-32", doc(declared("UTF-32", CANCEL_987654)), 200, F(1900) },
  { "a body declared US-ASCII (a subset of UTF-8)", doc(declared("US-ASCII", CANCEL_987654)), 200, F(1017) },
  { "a body declared latin1 (ISO-8859-1's alias)", doc(declared("latin1", CANCEL_987654)), 200, F(1017) },
  { "a body declared utf-8 in lower case", doc(declared("utf-8", CANCEL_987654)), 200, F(1017) },
  { "a UTF-8 body with a byte-order mark", doc("\xEF\xBB\xBF" .. CANCEL_987654), 200, F(1017) },
  -- namespaces: the interface's names are plain; a prefix or a second namespace would make
  -- <a:v> and <c:v> one parameter, so any of them is refused
  { "an undeclared prefix on a parameter", doc(call("cancel_task", "<a:task_id>987654</a:task_id>")), 200, F(1900) },
  { "an undeclared prefix on the root", doc("<m:methodcall><name>cancel_task</name></m:methodcall>"), 200, F(1900) },
  { "an undeclared prefix on an attribute", doc(call("cancel_task", '<task_id a:x="1">987654</task_id>')), 200, F(1900) },
  { "a declared prefix on a parameter", doc('<methodcall xmlns:a="urn:a"><name>cancel_task</name><params><a:task_id>987654</a:task_id></params></methodcall>'), 200, F(1900) },
  { "a declared prefix on the root", doc('<m:methodcall xmlns:m="urn:m"><name>cancel_task</name></m:methodcall>'), 200, F(1900) },
  { "a declared prefix on the method name", doc('<methodcall xmlns:a="urn:a"><a:name>cancel_task</a:name></methodcall>'), 200, F(1900) },
  { "<a:v> and <c:v> in two namespaces", doc('<methodcall xmlns:a="urn:a" xmlns:c="urn:c"><name>gettaskinfo</name><params><a:task_id>1</a:task_id><c:task_id>2</c:task_id></params></methodcall>'), 200, F(1900) },
  { "<a:v> and <c:v> bound to one namespace", doc('<methodcall xmlns:a="urn:a" xmlns:c="urn:a"><name>gettaskinfo</name><params><a:task_id>1</a:task_id><c:task_id>2</c:task_id></params></methodcall>'), 200, F(1900) },
  { "a parameter and its prefixed twin", doc('<methodcall xmlns:a="urn:a"><name>cancel_task</name><params><task_id>987654</task_id><a:task_id>1</a:task_id></params></methodcall>'), 200, F(1900) },
  { "the xml prefix on an element", doc(call("cancel_task", "<xml:task_id>987654</xml:task_id>")), 200, F(1900) },
  { "a parameter in another default namespace", doc(call("cancel_task", '<task_id xmlns="urn:y">987654</task_id>')), 200, F(1900) },
  { "a document in a default namespace with a parameter taken out of it", doc('<methodcall xmlns="urn:x"><name>cancel_task</name><params><task_id xmlns="">987654</task_id></params></methodcall>'), 200, F(1900) },
  { "a prefix undeclared with xmlns:a=\"\"", doc('<methodcall xmlns:a=""><name>cancel_task</name></methodcall>'), 200, F(1900) },
  { "a document wholly in one default namespace", doc('<methodcall xmlns="urn:x"><name>cancel_task</name><params><task_id>987654</task_id></params></methodcall>'), 200, F(1017) },
  -- attributes: libxml2 compares each one of a tag with all the tag's earlier ones, so their
  -- number per element is capped (64) before it parses; '=' and '>' inside quoted values,
  -- comments, CDATA and processing instructions are not attributes
  { "65 attributes on one element", doc(with_attributes(65, "x")), 200, F(1900) },
  { "64 attributes on one element (accepted)", doc(with_attributes(64, "x")), 200, F(1017) },
  { "65 namespace declarations on one element", doc("<methodcall " .. list(65, 'xmlns:a%d="urn:x"', " ") .. "><name>cancel_task</name></methodcall>"), 200, F(1900) },
  { "33 namespace declarations in a document", doc(call("cancel_task", "<task_id>987654</task_id>" .. list(33, '<x%d xmlns:a="urn:x"/>', ""))), 200, F(1900) },
  { "32 namespace declarations in a document (accepted)", doc(call("cancel_task", "<task_id>987654</task_id>" .. list(32, '<x%d xmlns:a="urn:x"/>', ""))), 200, F(1017) },
  { "33 default namespace declarations", doc(call("cancel_task", "<task_id>987654</task_id>" .. list(33, '<x%d xmlns=""/>', ""))), 200, F(1900) },
  { "33 namespace declarations with spaces around =", doc(call("cancel_task", "<task_id>987654</task_id>" .. list(33, '<x%d xmlns:a = "urn:x"/>', ""))), 200, F(1900) },
  { "64 attributes whose values hold = and > (accepted)", doc(with_attributes(64, "a=b>c='d'")), 200, F(1017) },
  { "= in comments, CDATA and processing instructions (accepted)", doc("<?pi " .. string.rep("a=b ", 100) .. "?><methodcall><!-- " .. string.rep("a=b ", 100) .. "--><name>cancel_task</name><params><task_id><![CDATA[987654]]></task_id><note><![CDATA[" .. string.rep("a=b ", 100) .. "]]></note></params></methodcall>"), 200, F(1017) },
  { "XmlSerializer's xsi/xsd declarations and a declared prefixed attribute", doc('<methodcall xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><name>cancel_task</name><params><task_id xsi:type="xsd:int">987654</task_id></params></methodcall>'), 200, F(1017) },
  { "a CDATA value", doc("<methodcall><name>cancel_task</name><params><task_id><![CDATA[987654]]></task_id></params></methodcall>"), 200, F(1017) },
  { "a character reference in a value", doc("<methodcall><name>cancel_task</name><params><task_id>98765&#52;</task_id></params></methodcall>"), 200, F(1017) },
  { "a comment inside a value", doc("<methodcall><name>cancel_task</name><params><task_id>987654<!-- x --></task_id></params></methodcall>"), 200, F(1017) },
  { "attributes and a processing instruction", doc('<?pi x?><methodcall id="1"><name a="b">cancel_task</name><params><task_id>987654</task_id></params></methodcall>'), 200, F(1017) },
  -- numbers
  { "task_id with a plus sign", cancel("+5"), 200, F(1012) },
  { "task_id with a minus sign", cancel("-5"), 200, F(1012) },
  { "task_id with decimals", cancel("5.0"), 200, F(1012) },
  { "task_id in hex", cancel("0x1F"), 200, F(1012) },
  { "task_id in exponent form", cancel("1e3"), 200, F(1012) },
  { "task_id with leading zeros (accepted)", cancel("000987654"), 200, F(1017) },
  { "task_id with surrounding whitespace (accepted)", cancel("  987654\n\t"), 200, F(1017) },
  { "task_id of whitespace only", cancel("   "), 200, F(1012) },
  { "task_id of 20 digits", cancel("12345678901234567890"), 200, F(1012) },
  { "task_id of 2147483648", cancel("2147483648"), 200, F(1012) },
  { "task_id with Arabic-Indic digits", cancel("\xD9\xA5"), 200, F(1012) },
  { "task_id with an embedded space", cancel("98 7654"), 200, F(1012) },
  { "task_id with 1 MiB of whitespace inside (linear trim)", cancel("1" .. string.rep(" ", 1047000) .. "2"), 200, F(1012) },
  { "task_id padded with 1 MiB of whitespace (accepted)", cancel(string.rep("\t", 523000) .. "987654" .. string.rep(" ", 523000)), 200, F(1017) },
  -- parameters and methods
  { "a duplicated task_id", post(call("cancel_task", "<task_id>1</task_id><task_id>1</task_id>")), 200, F(1012) },
  { "a missing task_id", post(call("cancel_task", "<other>1</other>")), 200, F(1040) },
  { "an unknown method", post(call("drop_tables")), 200, F(1901) },
  { "an empty method name", post(call("")), 200, F(1900) },
  { "a 10 KB method name", post(call(string.rep("m", 10240))), 200, F(1901) },
  { "a method name with padding (accepted)", post(call("  cancel_task  ", "<task_id>987654</task_id>")), 200, F(1017) },
  { "a method name with 1 MiB of whitespace inside", post(call("cancel" .. string.rep(" ", 1047000) .. "task")), 200, F(1901) },
  -- HTTP
  { "a wrong path", gateway.post_request(call("cancel_task"), nil, "/api/v2/tasks"), 404, nil },
  { "an absolute URI to another path", "POST http://x/other HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 404, nil },
  { "a query string on the endpoint (accepted)", gateway.post_request(call("cancel_task", "<task_id>987654</task_id>"), nil, "/api/v2/task?x=1"), 200, F(1017) },
  { "PUT", "PUT /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, nil },
  { "DELETE", "DELETE /api/v2/task HTTP/1.1\r\nHost: x\r\n\r\n", 405, nil },
  { "a methodcall sent as text/plain (the body decides)", post(call("cancel_task")):gsub("application/xml", "text/plain"), 200, F(1040) },
  { "a methodcall sent as multipart/form-data (the body decides)", post(call("cancel_task")):gsub("application/xml", "multipart/form-data; boundary=x"), 200, F(1040) },
  { "a body that is neither XML nor JSON, sent as text/plain", post("hello"):gsub("application/xml", "text/plain"), 200, F(1900) },
  { "a gzip Content-Encoding", post(call("cancel_task")):gsub("Content%-Type", "Content-Encoding: gzip\r\nContent-Type"), 415, nil },
  { "a chunked body (accepted)", chunked(call("cancel_task", "<task_id>987654</task_id>")), 200, F(1017) },
  { "Content-Length with Transfer-Encoding", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, nil },
  { "two Content-Lengths", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400, nil },
  { "a negative Content-Length", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, nil },
  { "a non-numeric Content-Length", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400, nil },
  { "Transfer-Encoding other than chunked", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400, nil },
  { "a bad chunk size", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, nil },
  { "a chunk size that overflows", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", 400, nil },
  { "chunk trailers", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n", 400, nil },
  { "a bare CR in a header (CVE-2023-30589)", "POST /api/v2/task HTTP/1.1\r\nHost: x\rTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "an obs-fold header line (CVE-2024-27982)", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nX: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "a bare LF line ending", "POST /api/v2/task HTTP/1.1\nHost: x\nContent-Length: 0\n\n", 400, nil },
  { "a space before the header colon", "POST /api/v2/task HTTP/1.1\r\nHost : x\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "a NUL in a header", "POST /api/v2/task HTTP/1.1\r\nHost: x\0y\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "an invalid method token", "P@ST /api/v2/task HTTP/1.1\r\nHost: x\r\n\r\n", 400, nil },
  { "an HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, nil },
  { "not HTTP at all", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, nil },
  { "a header flood", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\n" .. string.rep("X-A: 1\r\n", 5000) .. "\r\n", 431, nil },
  { "one 20 KB header", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nX-Big: " .. string.rep("b", 20480) .. "\r\n\r\n", 431, nil },
  { "a request line of 1 MB", "POST /" .. string.rep("a", 1048576) .. " HTTP/1.1\r\nHost: x\r\n\r\n", 414, nil },
  { "a 10 MB body", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: 10485760\r\n\r\n" .. string.rep("x", 65536), 413, nil },
  -- HTTP framing llhttp 8.1.0 lets through (src/framing.c): each is refused and the connection closed
  { "chunk data not followed by CRLF", chunked_raw("5\r\nhelloXX0\r\n\r\n"), 400, nil },
  { "chunk data longer than its size", chunked_raw("2\r\nhello\r\n0\r\n\r\n"), 400, nil },
  { "chunk data shorter than its size", chunked_raw("9\r\nhello\r\n0\r\n\r\n"), 400, nil },
  { "a last chunk not ended by CRLF", chunked_raw("5\r\nhello\r\n0\r\n\rX"), 400, nil },
  { "a chunk size line ended by a bare LF", chunked_raw("5\nhello\r\n0\r\n\r\n"), 400, nil },
  { "a chunk size with a leading space", chunked_raw(" 5\r\nhello\r\n0\r\n\r\n"), 400, nil },
  { "a chunk size in 0x form", chunked_raw("0x5\r\nhello\r\n0\r\n\r\n"), 400, nil },
  { "a chunk extension with a quoted value", chunked_raw('5;a="b"\r\nhello\r\n0\r\n\r\n'), 400, nil },
  { "a chunk extension with a control byte", chunked_raw("5;a\1\r\nhello\r\n0\r\n\r\n"), 400, nil },
  { "a chunk size over the body limit", chunked_raw("100001\r\n"), 413, nil },
  { "a token chunk extension (accepted)", chunked_raw(string.format("%x;ext=1\r\n%s\r\n0\r\n\r\n", #call("cancel_task", "<task_id>987654</task_id>"), call("cancel_task", "<task_id>987654</task_id>"))), 200, F(1017) },
  { "a request line without an HTTP version", "GET /status\r\n\r\n", 400, nil },
  { "a POST without an HTTP version", "POST /api/v2/task\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "HTTP/0.9 with headers", "GET /status HTTP/0.9\r\nHost: x\r\n\r\n", 400, nil },
  { "HTTP/1.2", "POST /api/v2/task HTTP/1.2\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "HTTP/2.0 in a request line", "POST /api/v2/task HTTP/2.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 505, nil },
  { "HTTP/3.0 in a request line", "GET /status HTTP/3.0\r\nHost: x\r\n\r\n", 400, nil },
  { "a lower-case http version", "GET /status http/1.1\r\nHost: x\r\n\r\n", 400, nil },
  { "two spaces after the method", "POST  /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "two spaces before the version", "POST /api/v2/task  HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "a space before the method", " POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "a space after the version", "GET /status HTTP/1.1 \r\nHost: x\r\n\r\n", 400, nil },
  { "a tab between the request line's parts", "GET\t/status HTTP/1.1\r\nHost: x\r\n\r\n", 400, nil },
  { "an asterisk-form target", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400, nil },
  { "an authority-form CONNECT", "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400, nil },
  { "a relative target", "POST api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "a fragment in the target", "POST /api/v2/task#x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "a non-ASCII byte in the target", "GET /st\xC3\xA4tus HTTP/1.1\r\nHost: x\r\n\r\n", 400, nil },
  { "a control byte in the target", "GET /st\1atus HTTP/1.1\r\nHost: x\r\n\r\n", 400, nil },
  { "an absolute-form target without a host", "POST http:///api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "an absolute-form target with another scheme", "POST ftp://x/api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "an absolute-form target to the endpoint (accepted)", post(call("cancel_task", "<task_id>987654</task_id>")):gsub("^POST /api", "POST http://gateway:44000/api"), 200, F(1017) },
  { "an empty header name", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\n: v\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "a header line without a colon", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nNoColon\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "an invalid byte in a header name", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nX@Y: 1\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "a non-ASCII byte in a header name", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nX\xFFY: 1\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "a control byte in a header value", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nX: a\1b\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "a DEL byte in a header value", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nX: a\127b\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "two Host headers", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "two Host headers on a GET", "GET /status HTTP/1.1\r\nHost: x\r\nhost: x\r\n\r\n", 400, nil },
  { "a Host with a space inside", "GET /status HTTP/1.1\r\nHost: x y\r\n\r\n", 400, nil },
  { "a Host with a slash", "GET /status HTTP/1.1\r\nHost: x/y\r\n\r\n", 400, nil },
  { "Transfer-Encoding gzip, chunked", chunked_raw("0\r\n\r\n", "gzip, chunked"), 400, nil },
  { "Transfer-Encoding chunked, chunked", chunked_raw("0\r\n\r\n", "chunked, chunked"), 400, nil },
  { "Transfer-Encoding with an empty list element", chunked_raw("0\r\n\r\n", ", chunked"), 400, nil },
  { "Transfer-Encoding identity", chunked_raw("0\r\n\r\n", "identity"), 400, nil },
  { "two Transfer-Encoding fields, chunked last", chunked_raw("0\r\n\r\n", "gzip\r\nTransfer-Encoding: chunked"), 400, nil },
  { "two Transfer-Encoding chunked fields", chunked_raw("0\r\n\r\n", "chunked\r\nTransfer-Encoding: chunked"), 400, nil },
  { "an empty Transfer-Encoding with Content-Length", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\nContent-Length: 0\r\n\r\n", 400, nil },
  { "Transfer-Encoding in HTTP/1.0", "POST /api/v2/task HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, nil },
  { "Transfer-Encoding in upper case (accepted)", chunked_raw(string.format("%x\r\n%s\r\n0\r\n\r\n", #call("cancel_task", "<task_id>987654</task_id>"), call("cancel_task", "<task_id>987654</task_id>")), "CHUNKED"), 200, F(1017) },
  { "Content-Length with a plus sign", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n", 400, nil },
  { "Content-Length in hex", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0x0\r\n\r\n", 400, nil },
  { "Content-Length of two numbers", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0 0\r\n\r\n", 400, nil },
  { "Content-Length as a list", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0,0\r\n\r\n", 400, nil },
  { "an empty Content-Length", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400, nil },
  { "Content-Length of 30 digits", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999999999999999999999\r\n\r\n", 400, nil },
  { "Content-Length with a vertical tab", "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0\11\r\n\r\n", 400, nil },
  { "no Host header (accepted)", "POST /api/v2/task HTTP/1.1\r\nContent-Length: " .. #call("cancel_task", "<task_id>987654</task_id>") .. "\r\n\r\n" .. call("cancel_task", "<task_id>987654</task_id>"), 200, F(1017) },
}

-- Statuses that end the connection: the bytes after them cannot be trusted to frame a request.
local closes_after = { [400] = true, [413] = true, [414] = true, [431] = true, [505] = true }

describe("hostile input", function()
  local gw
  local next_task = 0
  setup(function()
    -- The 1 MiB whitespace cases take a few ms of Lua time: on a loaded machine, or under the
    -- sanitizers, that can near the default 50 ms of wall time.
    gw = gateway.start({ args = "--lua-time-limit 250" })
    local tasks = {}
    for i = 1, #cases + 1 do tasks[i] = { i, i } end
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, tasks)))
  end)
  teardown(function() gw:stop() end)

  for _, case in ipairs(cases) do
    it("answers " .. case[3] .. " to " .. case[1] .. ", then serves a normal request", function()
      local conn = gw:connect()
      conn:settimeout(10)
      conn:send(case[2])
      local status, headers, body = gateway.read_response(conn)
      local after = status and closes_after[status] and select(2, conn:receive(1))
      conn:close()
      assert.equal(case[3], status)
      if case[4] then assert.equal(case[4], body) end
      if closes_after[case[3]] then -- nothing after bytes we refused is ever read as a request
        assert.equal("close", headers.connection)
        assert.equal("closed", after)
      end
      next_task = next_task + 1
      assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>" .. next_task .. "</task_id>"))
    end)
  end

  it("answers at once floods of attributes and namespace declarations", function()
    -- Prefixed attributes that libxml2 resolves through every declaration around them: 28
    -- levels of 64 declarations each (refused), or of one each (the most a document may hold).
    local function nested(declarations)
      local opening, closing = {}, {}
      for level = 1, 28 do
        opening[level] = "<e" .. level .. " " .. list(declarations, 'xmlns:p' .. level .. '_%d="urn:x"', " ") .. ">"
        closing[29 - level] = "</e" .. level .. ">"
      end
      local prefixed = "<x " .. list(64, 'p1_1:a%d=""', " ") .. "/>"
      local room = 1024 * 1024 - 2000 - #table.concat(opening) - #table.concat(closing)
      return post(call("cancel_task", table.concat(opening) .. string.rep(prefixed, room // #prefixed) ..
        table.concat(closing) .. "<task_id>987654</task_id>"))
    end
    -- { request, expected reply }: the first held the loop, and every client of it, for 12 s and
    -- the second for half a second before the caps.
    local floods = {
      { post(with_attributes(100000, "")), F(1900) },
      { nested(64), F(1900) },
      { nested(1), F(1017) },
      { post('<?xml version="1.0" encoding="UTF-7"?><methodcall ' .. list(60000, "a%d+AD0AIgAi-", " ") .. "><name>cancel_task</name></methodcall>"), F(1900) },
    }
    for _, flood in ipairs(floods) do
      local started = socket.gettime()
      local conn = gw:connect()
      conn:settimeout(30)
      conn:send(flood[1])
      local other = gw:call("cancel_task", "<task_id>987654</task_id>") -- another client meanwhile
      local status, _, body = gateway.read_response(conn)
      conn:close()
      assert.equal(200, status)
      assert.equal(flood[2], body)
      assert.equal(F(1017), other)
      local seconds = socket.gettime() - started
      assert.is_true(seconds < 1.5, string.format("answered after %.2f s", seconds))
    end
  end)

  it("answers a valid request and then 400 for the garbage pipelined after it", function()
    local conn = gw:connect()
    conn:send(cancel("987654") .. "GARBAGE / HTTP/9\r\n\r\n")
    assert.equal(F(1017), select(3, gateway.read_response(conn)))
    assert.equal(400, (gateway.read_response(conn)))
    conn:close()
  end)

  it("ignores Upgrade: answers the request as HTTP/1.1 and serves the one pipelined after it", function()
    local conn = gw:connect()
    conn:send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" ..
      cancel("987654"))
    local status, _, body = gateway.read_response(conn)
    assert.equal(200, status)
    assert.equal("ok\n", body)
    assert.equal(F(1017), select(3, gateway.read_response(conn)))
    conn:close()
  end)

  it("answers pipelined requests after a chunked one that ends exactly", function()
    local conn = gw:connect()
    local body = call("cancel_task", "<task_id>987654</task_id>")
    conn:send(chunked_raw(string.format("%x\r\n%s\r\n0\r\n\r\n", #body, body)) .. cancel("987654"))
    assert.equal(F(1017), select(3, gateway.read_response(conn)))
    assert.equal(F(1017), select(3, gateway.read_response(conn)))
    conn:close()
  end)

  it("covers at least fifty cases", function()
    assert.is_true(#cases >= 50)
  end)
end)
