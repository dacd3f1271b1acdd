package org.jettyitk.distribution;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.util.component.LifeCycle;
import org.jettyitk.distribution.ResponseComparison.Observed;
import org.jettyitk.distribution.WireExchange.Field;
import org.jettyitk.distribution.WireExchange.Response;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The differential fidelity test: plain Jetty is the oracle. Four bases of the real jetty-home distribution,
 * in two pairs that differ only in how the same WAR ({@code examples/fidelity}) is served:</p>
 * <table>
 *   <caption>The bases</caption>
 *   <tr><th>pair</th><th>plain Jetty (WAR as {@code webapps/ROOT.war})</th><th>jetty-itk (WAR of a vhost, uid
 *   41001)</th></tr>
 *   <tr><td>minimal</td><td>{@code http,ee10-deploy}</td><td>{@code http,itk}: exactly the README's module
 *   path</td></tr>
 *   <tr><td>full</td><td>{@code http,ee10-deploy} + {@link #EXTRA_MODULES}</td><td>{@code http,itk} +
 *   {@link #EXTRA_MODULES}</td></tr>
 * </table>
 * <p>All four listen on the same port, each on its own loopback address, so that a request's {@code Host}, the
 * app's {@code getServerPort()} and every URL it builds are the same on both sides of a pair. Every request of
 * {@link #CASES} (and, for the full pair, of {@link #HTTP2_CASES}) is sent to both servers of a pair, HTTP/1.x as
 * bytes on a socket so that header-name case and order are seen as on the wire, HTTP/2 with Jetty's client (h2c
 * with prior knowledge). Status line, interim responses, headers (names with their case, values, repeated
 * headers in order, the order of the headers the app set) and bodies are compared by {@link ResponseComparison}.
 * Each request whose responses differ is one failing test that lists every difference found, except what must
 * differ between two servers (made equal before the comparison) and what {@link #ACCEPTED} names, each with its
 * reason.</p>
 * <p>A new case is one line of {@link #CASES}: a request as text, {@code \n} for CRLF, where {@code {authority}}
 * is {@code fid.itk.test:PORT}, {@code {length}} the length of the body (after the first empty line),
 * {@code {filler:N}} N characters of a large body, and
 * {@code {session}}, {@code {etag}} and {@code {last-modified}} what the previous request of the same case got
 * from the same server; several requests of one case are separated by {@link #NEXT}.</p>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public class DifferentialIT
{
    private static final String HOST = "fid.itk.test";
    private static final String SURVIVOR_HOST = "survivor.itk.test";
    private static final int TENANT = 41001;
    private static final int SURVIVOR = 41002;
    /** The modules of the full pair besides {@code http} and how each serves the WAR: JSP, JSTL, gzip, h2c. */
    private static final String EXTRA_MODULES = "http2c,ee10-apache-jsp,ee10-jstl,compression-gzip";
    /** In a request, {@code {filler:N}} is N characters of {@link #filler(int)}. */
    private static final Pattern FILLER = Pattern.compile("\\{filler:(\\d+)}");
    /** Separates the requests of one case. */
    private static final String NEXT = "\n=====\n";

    /**
     * <p>The requests, as a client sends them. The app's URLs: {@code /echo} reports the request (see
     * {@code EchoServlet} for its query parameters), {@code /multipart}, {@code /session}, {@code /redirect},
     * {@code /error}, {@code /async}, {@code /stream}, {@code /text}, static files under {@code /static}, and the
     * JSP pages {@code /jstl.jsp} (JSTL from {@code ee10-jstl}) and {@code /plain.jsp}.</p>
     */
    private static final List<Case> CASES = List.of(
        // Every method on a servlet that answers them all.
        request("GET with query", "GET /echo/some/path?q=1&q=2&empty=&x=%C3%A9 HTTP/1.1\nHost: {authority}\nUser-Agent: fidelity-test\nAccept: */*\n\n"),
        request("HEAD", "HEAD /echo HTTP/1.1\nHost: {authority}\n\n"),
        request("HEAD with body size known", "HEAD /text?lines=3 HTTP/1.1\nHost: {authority}\n\n"),
        request("POST application/json", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: application/json\nContent-Length: {length}\n\n{\"name\":\"value\",\"n\":1}"),
        request("POST application/json;charset=UTF-8", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: application/json;charset=UTF-8\nContent-Length: {length}\n\n{\"name\":\"\u00e9t\u00e9\"}"),
        request("PUT text/plain;charset=utf-8", "PUT /echo/item/1 HTTP/1.1\nHost: {authority}\nContent-Type: text/plain;charset=utf-8\nContent-Length: {length}\n\nput body \u00e9\u4e2d"),
        request("DELETE", "DELETE /echo/item/1 HTTP/1.1\nHost: {authority}\n\n"),
        request("OPTIONS", "OPTIONS /echo HTTP/1.1\nHost: {authority}\n\n"),
        request("OPTIONS *", "OPTIONS * HTTP/1.1\nHost: {authority}\n\n"),
        request("PATCH application/merge-patch+json", "PATCH /echo/item/1 HTTP/1.1\nHost: {authority}\nContent-Type: application/merge-patch+json\nContent-Length: {length}\n\n{\"n\":2}"),
        request("TRACE", "TRACE /echo HTTP/1.1\nHost: {authority}\nX-Traced: yes\n\n"),
        request("unknown method", "FROBNICATE /echo HTTP/1.1\nHost: {authority}\n\n"),
        // The same methods where the container answers them (default servlet, JSP).
        request("HEAD static", "HEAD /static/hello.txt HTTP/1.1\nHost: {authority}\n\n"),
        request("OPTIONS static", "OPTIONS /static/hello.txt HTTP/1.1\nHost: {authority}\n\n"),
        request("TRACE static", "TRACE /static/hello.txt HTTP/1.1\nHost: {authority}\n\n"),
        request("POST static", "POST /static/hello.txt HTTP/1.1\nHost: {authority}\nContent-Type: text/plain\nContent-Length: {length}\n\nx"),
        request("PUT static", "PUT /static/hello.txt HTTP/1.1\nHost: {authority}\nContent-Type: text/plain\nContent-Length: {length}\n\nx"),
        request("DELETE static", "DELETE /static/hello.txt HTTP/1.1\nHost: {authority}\n\n"),
        request("PATCH static", "PATCH /static/hello.txt HTTP/1.1\nHost: {authority}\nContent-Length: 0\n\n"),
        // Bodies: framing and content types.
        request("POST Content-Length 0", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Length: 0\n\n"),
        request("POST no Content-Type", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Length: {length}\n\nno type"),
        request("POST chunked", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: text/plain;charset=utf-8\nTransfer-Encoding: chunked\n\n5\nhello\n7\n, world\n0\n\n"),
        request("POST chunked with trailer", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: text/plain\nTransfer-Encoding: chunked\nTrailer: X-Checksum\n\n4\nbody\n0\nX-Checksum: 42\n\n"),
        request("PUT Expect 100-continue", "PUT /echo HTTP/1.1\nHost: {authority}\nContent-Type: application/json\nExpect: 100-continue\nContent-Length: {length}\n\n{\"after\":\"continue\"}"),
        request("POST Expect 100-continue chunked", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: text/plain\nExpect: 100-continue\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n"),
        request("POST Expect 100-continue, error page", "POST /no-such-page HTTP/1.1\nHost: {authority}\nContent-Type: text/plain\nExpect: 100-continue\nContent-Length: {length}\n\nnever read"),
        request("POST text/plain;charset=ISO-8859-1", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: text/plain;charset=ISO-8859-1\nContent-Length: {length}\n\ncaf\u00e9"),
        request("POST text/html;charset=windows-1252", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: text/html; charset=windows-1252\nContent-Length: {length}\n\n<p>x</p>"),
        request("POST application/xml", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: application/xml\nContent-Length: {length}\n\n<a b=\"c\"/>"),
        request("POST application/octet-stream", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: application/octet-stream\nContent-Length: {length}\n\n\u0001\u0002binary"),
        request("POST large body", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: application/json\nContent-Length: {length}\n\n{\"data\":\"{filler:300000}\"}"),
        request("POST text/csv", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: text/csv\nContent-Length: {length}\n\na,b\n1,2\n"),
        request("HTTP/1.0 POST", "POST /echo HTTP/1.0\nHost: {authority}\nContent-Type: application/json\nContent-Length: {length}\n\n{\"v\":\"1.0\"}"),
        request("HTTP/1.0 GET keep-alive", "GET /echo HTTP/1.0\nHost: {authority}\nConnection: keep-alive\n\n"),
        request("HTTP/1.0 GET", "GET /echo?x=1 HTTP/1.0\nHost: {authority}\n\n"),
        request("HTTP/1.0 HEAD", "HEAD /static/hello.txt HTTP/1.0\nHost: {authority}\n\n"),
        // Form parameters.
        request("form urlencoded", "POST /echo?read=params&q=query HTTP/1.1\nHost: {authority}\nContent-Type: application/x-www-form-urlencoded\nContent-Length: {length}\n\nname=form+value&name=second&x=%C3%A9&empty="),
        request("form urlencoded charset", "POST /echo?read=params HTTP/1.1\nHost: {authority}\nContent-Type: application/x-www-form-urlencoded; charset=ISO-8859-1\nContent-Length: {length}\n\nname=caf%E9"),
        request("form multipart", "POST /multipart HTTP/1.1\nHost: {authority}\nContent-Type: multipart/form-data; boundary=XyZ\nContent-Length: {length}\n\n--XyZ\nContent-Disposition: form-data; name=\"name\"\n\nfield value\n--XyZ\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\nContent-Type: text/plain\n\nfile content\n--XyZ--\n"),
        // Request headers as the app sees them.
        request("header names case", "GET /echo HTTP/1.1\nHost: {authority}\nx-lower-case: a\nX-UPPER-CASE: b\nX-MiXeD-CaSe: c\nuser-agent: lower-agent\nACCEPT-LANGUAGE: fr\ncontent-TYPE: text/plain\n\n"),
        request("header repeated", "GET /echo HTTP/1.1\nHost: {authority}\nX-Repeat: 1\nX-Other: between\nX-Repeat: 2\nx-repeat: 3\nAccept: text/html, text/plain\nAccept: */*\n\n"),
        request("header values", "GET /echo HTTP/1.1\nHost: {authority}\nX-Empty:\nX-Spaces:   padded   \nX-Comma: a, b,c\nX-Latin1: caf\u00e9\nCookie: a=1; b=2\nCookie: c=3\n\n"),
        request("Connection names a header", "GET /echo HTTP/1.1\nHost: {authority}\nConnection: keep-alive, X-Hop-Secret\nX-Hop-Secret: s3cret\nKeep-Alive: timeout=5\nX-End-To-End: kept\n\n"),
        request("Host without port", "GET /echo HTTP/1.1\nHost: " + HOST + "\n\n"),
        request("Host in upper case", "GET /echo HTTP/1.1\nHost: FID.ITK.TEST:{port}\n\n"),
        request("absolute-form target", "GET http://{authority}/echo?abs=1 HTTP/1.1\nHost: {authority}\n\n"),
        request("forwarding headers from the client", "GET /echo HTTP/1.1\nHost: {authority}\nX-Forwarded-For: 203.0.113.7\nX-Forwarded-Proto: https\nForwarded: for=203.0.113.8;proto=https\n\n"),
        // Response headers and status codes set by the app.
        request("response headers set by the app", "GET /echo?add=X-App-MiXed:v1&add=X-App-Repeat:1&add=x-app-lower:l&add=X-App-Repeat:2&add=X-APP-UPPER:U&add=Cache-Control:no-store&add=X-App-Empty: HTTP/1.1\nHost: {authority}\n\n"),
        request("response content type set by the app", "GET /echo?type=application/json;charset=ISO-8859-1 HTTP/1.1\nHost: {authority}\n\n"),
        request("status 102 interim", "GET /echo?interim=102 HTTP/1.1\nHost: {authority}\n\n"),
        request("status 103 interim", "GET /echo?interim=103&add=Link:</static/hello.txt>;rel=preload HTTP/1.1\nHost: {authority}\n\n"),
        request("status 201 with body", "POST /echo?status=201&add=Location:/echo/new HTTP/1.1\nHost: {authority}\nContent-Length: 0\n\n"),
        request("status 202 no body", "GET /echo?status=202&nobody HTTP/1.1\nHost: {authority}\n\n"),
        request("status 204", "DELETE /echo?status=204&nobody HTTP/1.1\nHost: {authority}\n\n"),
        request("status 204 with body written", "GET /echo?status=204 HTTP/1.1\nHost: {authority}\n\n"),
        request("status 205", "GET /echo?status=205&nobody HTTP/1.1\nHost: {authority}\n\n"),
        request("status 301 set by the app", "GET /echo?status=301&add=Location:/elsewhere&nobody HTTP/1.1\nHost: {authority}\n\n"),
        request("status 304 set by the app", "GET /echo?status=304&nobody HTTP/1.1\nHost: {authority}\n\n"),
        request("status 400 with body", "GET /echo?status=400 HTTP/1.1\nHost: {authority}\n\n"),
        request("status 401 with header", "GET /echo?status=401&add=WWW-Authenticate:Basic%20realm=%22x%22&nobody HTTP/1.1\nHost: {authority}\n\n"),
        request("status 404 set, not sent", "GET /echo?status=404 HTTP/1.1\nHost: {authority}\n\n"),
        request("status 418", "GET /echo?status=418 HTTP/1.1\nHost: {authority}\n\n"),
        request("status 500 no body", "GET /echo?status=500&nobody HTTP/1.1\nHost: {authority}\n\n"),
        request("status 503 with Retry-After", "GET /echo?status=503&add=Retry-After:7 HTTP/1.1\nHost: {authority}\n\n"),
        request("status 599", "GET /echo?status=599 HTTP/1.1\nHost: {authority}\n\n"),
        // Redirects.
        request("sendRedirect relative", "GET /redirect/from/here?to=there HTTP/1.1\nHost: {authority}\n\n"),
        request("sendRedirect absolute path", "GET /redirect?to=/echo/target%3Fa=b HTTP/1.1\nHost: {authority}\n\n"),
        request("sendRedirect absolute URL", "GET /redirect?to=https://elsewhere.example/x HTTP/1.1\nHost: {authority}\n\n"),
        request("sendRedirect, Host without port", "GET /redirect?to=there HTTP/1.1\nHost: " + HOST + "\n\n"),
        request("sendRedirect HTTP/1.0", "GET /redirect?to=there HTTP/1.0\nHost: {authority}\n\n"),
        request("directory redirect", "GET /static HTTP/1.1\nHost: {authority}\n\n"),
        // Errors.
        request("sendError 404 to the app's error page", "GET /error?code=404&message=gone HTTP/1.1\nHost: {authority}\n\n"),
        request("sendError 410 to Jetty's error page", "GET /error?code=410 HTTP/1.1\nHost: {authority}\nAccept: text/html\n\n"),
        request("sendError 500 with message", "GET /error?code=500&message=broken HTTP/1.1\nHost: {authority}\nAccept: text/plain\n\n"),
        request("sendError JSON error page", "GET /error?code=409 HTTP/1.1\nHost: {authority}\nAccept: application/json\n\n"),
        request("exception to the app's error page", "GET /error?throw HTTP/1.1\nHost: {authority}\n\n"),
        request("no such file", "GET /static/no-such-file.txt HTTP/1.1\nHost: {authority}\n\n"),
        request("HEAD no such file", "HEAD /no-such-page HTTP/1.1\nHost: {authority}\n\n"),
        request("bad request: no Host", "GET /echo HTTP/1.1\n\n"),
        // Cookies and the session.
        request("session and app cookie", "GET /session?cookie HTTP/1.1\nHost: {authority}\n\n" + NEXT + "GET /session HTTP/1.1\nHost: {authority}\nCookie: {session}; other=x\n\n"),
        request("unknown session id", "GET /session HTTP/1.1\nHost: {authority}\nCookie: JSESSIONID=node0unknown1234\n\n"),
        // Static files: ranges and conditional requests.
        request("static file", "GET /static/hello.txt HTTP/1.1\nHost: {authority}\n\n"),
        request("welcome file", "GET / HTTP/1.1\nHost: {authority}\n\n"),
        request("Range first bytes", "GET /static/big.txt HTTP/1.1\nHost: {authority}\nRange: bytes=0-9\n\n"),
        request("Range suffix", "GET /static/big.txt HTTP/1.1\nHost: {authority}\nRange: bytes=-12\n\n"),
        request("Range open", "GET /static/hello.txt HTTP/1.1\nHost: {authority}\nRange: bytes=7-\n\n"),
        request("Range several", "GET /static/hello.txt HTTP/1.1\nHost: {authority}\nRange: bytes=0-1,5-6\n\n"),
        request("Range unsatisfiable", "GET /static/hello.txt HTTP/1.1\nHost: {authority}\nRange: bytes=500-600\n\n"),
        request("If-None-Match", "GET /static/hello.txt HTTP/1.1\nHost: {authority}\n\n" + NEXT + "GET /static/hello.txt HTTP/1.1\nHost: {authority}\nIf-None-Match: {etag}\n\n"),
        request("If-None-Match other", "GET /static/hello.txt HTTP/1.1\nHost: {authority}\nIf-None-Match: \"other\"\n\n"),
        request("If-Modified-Since", "GET /static/hello.txt HTTP/1.1\nHost: {authority}\n\n" + NEXT + "GET /static/hello.txt HTTP/1.1\nHost: {authority}\nIf-Modified-Since: {last-modified}\n\n"),
        request("If-Modified-Since long ago", "GET /static/hello.txt HTTP/1.1\nHost: {authority}\nIf-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT\n\n"),
        request("If-Range", "GET /static/big.txt HTTP/1.1\nHost: {authority}\n\n" + NEXT + "GET /static/big.txt HTTP/1.1\nHost: {authority}\nRange: bytes=10-19\nIf-Range: {etag}\n\n"),
        // compression-gzip (full pair), or none (minimal pair).
        request("gzip static", "GET /static/big.txt HTTP/1.1\nHost: {authority}\nAccept-Encoding: gzip\n\n"),
        request("gzip servlet", "GET /text HTTP/1.1\nHost: {authority}\nAccept-Encoding: gzip, deflate, br\n\n"),
        request("gzip HEAD", "HEAD /text HTTP/1.1\nHost: {authority}\nAccept-Encoding: gzip\n\n"),
        request("gzip not accepted", "GET /text HTTP/1.1\nHost: {authority}\n\n"),
        request("gzip with Range", "GET /static/big.txt HTTP/1.1\nHost: {authority}\nAccept-Encoding: gzip\nRange: bytes=0-99\n\n"),
        request("gzip request body", "POST /echo HTTP/1.1\nHost: {authority}\nContent-Type: text/plain\nContent-Encoding: gzip\nContent-Length: {length}\n\nnot really gzip"),
        // JSP and JSTL.
        request("JSP with JSTL", "GET /jstl.jsp?name=%3Cb%3Ebold%3C/b%3E HTTP/1.1\nHost: {authority}\n\n"),
        request("JSP with JSTL, POST", "POST /jstl.jsp HTTP/1.1\nHost: {authority}\nContent-Type: application/x-www-form-urlencoded\nContent-Length: {length}\n\nname=posted"),
        request("JSP without tags", "GET /plain.jsp HTTP/1.1\nHost: {authority}\n\n"),
        request("HEAD JSP", "HEAD /plain.jsp HTTP/1.1\nHost: {authority}\n\n"),
        // Async and streaming.
        request("servlet async", "GET /async?delayMs=50 HTTP/1.1\nHost: {authority}\n\n"),
        request("streamed lines", "GET /stream?lines=5&delayMs=20 HTTP/1.1\nHost: {authority}\n\n"),
        request("streamed lines HTTP/1.0", "GET /stream?lines=3&delayMs=20 HTTP/1.0\nHost: {authority}\n\n"),
        request("large body", "GET /text?lines=3000 HTTP/1.1\nHost: {authority}\n\n"));

    /**
     * Requests sent with Jetty's HTTP/2 client (h2c, prior knowledge) to the full pair, whose bases enable
     * {@code http2c}: the request line's version says so.
     */
    private static final List<Case> HTTP2_CASES = List.of(
        request("h2 GET", "GET /echo/p?q=1 HTTP/2\nX-MiXeD-CaSe: c\nX-Repeat: 1\nX-Repeat: 2\n\n"),
        request("h2 HEAD", "HEAD /echo HTTP/2\n\n"),
        request("h2 POST application/json", "POST /echo HTTP/2\nContent-Type: application/json\n\n{\"h2\":true}"),
        request("h2 POST large body", "POST /echo HTTP/2\nContent-Type: text/plain;charset=utf-8\n\n{filler:300000}"),
        request("h2 PUT", "PUT /echo HTTP/2\nContent-Type: text/plain;charset=utf-8\n\nput \u00e9"),
        request("h2 DELETE", "DELETE /echo/1 HTTP/2\n\n"),
        request("h2 OPTIONS", "OPTIONS /echo HTTP/2\n\n"),
        request("h2 PATCH", "PATCH /echo HTTP/2\nContent-Type: application/json\n\n{}"),
        request("h2 form", "POST /echo?read=params HTTP/2\nContent-Type: application/x-www-form-urlencoded\n\nname=v&name=w"),
        request("h2 multipart", "POST /multipart HTTP/2\nContent-Type: multipart/form-data; boundary=XyZ\n\n--XyZ\nContent-Disposition: form-data; name=\"name\"\n\nh2 field\n--XyZ--\n"),
        request("h2 response headers", "GET /echo?add=X-App-MiXed:v1&add=X-App-Repeat:1&add=X-App-Repeat:2 HTTP/2\n\n"),
        request("h2 session", "GET /session?cookie HTTP/2\n\n" + NEXT + "GET /session HTTP/2\nCookie: {session}\n\n"),
        request("h2 redirect", "GET /redirect?to=there HTTP/2\n\n"),
        request("h2 error page", "GET /error?code=404 HTTP/2\n\n"),
        request("h2 Range", "GET /static/big.txt HTTP/2\nRange: bytes=0-9\n\n"),
        request("h2 If-None-Match", "GET /static/hello.txt HTTP/2\n\n" + NEXT + "GET /static/hello.txt HTTP/2\nIf-None-Match: {etag}\n\n"),
        request("h2 gzip", "GET /text HTTP/2\nAccept-Encoding: gzip\n\n"),
        request("h2 JSP with JSTL", "GET /jstl.jsp?name=h2 HTTP/2\n\n"),
        request("h2 async", "GET /async HTTP/2\n\n"),
        request("h2 streamed lines", "GET /stream?lines=4 HTTP/2\n\n"),
        request("h2 status 204", "GET /echo?status=204&nobody HTTP/2\n\n"));

    /**
     * <p>Differences that are accepted, each with its reason: the pattern matches one difference as
     * {@link ResponseComparison#differences} words it.</p>
     */
    private static final List<Accepted> ACCEPTED = List.of(
        // RFC 9110 7.6.1: an intermediary removes Connection, the headers it names (the table names them
        // X-Hop-*) and the other hop-by-hop headers; HTTP/2, the front-to-worker leg, forbids connection-specific
        // headers (RFC 9113 8.2.2). Plain Jetty is not an intermediary and shows them to the app.
        new Accepted("hop-by-hop request headers are not forwarded",
            Pattern.compile("body line only in plain: header (?i:(connection|keep-alive|transfer-encoding|te|upgrade|proxy-connection|x-hop-[a-z-]*)): .*")),
        // The front removes every Forwarded and X-Forwarded-* header of a client, so that no client chooses the
        // address, scheme or host the tenant sees; the app gets those from the servlet API, as the table
        // compares. Plain Jetty without the forwarded module shows them as ordinary headers.
        new Accepted("client forwarding headers are not forwarded",
            Pattern.compile("body line only in plain: header (?i:(forwarded|x-forwarded-[a-z-]*)): .*")),
        // Connection is hop-by-hop, the front's own business. Plain Jetty closes a connection when its app leaves
        // part of a request body unread that has not all arrived yet: timing, seen now and then on a POST a JSP or
        // the default servlet does not read. The front reads the whole body for the worker.
        new Accepted("whether a connection stays open is the front's own",
            Pattern.compile("header only in plain: \\[Connection: close]")),
        // The front's compression-gzip module decodes a request body before it goes to the worker: a body that
        // does not decode fails in the front, which answers 500 itself, where plain Jetty's app fails reading it
        // and its error page (with the stack trace of its servlet) says so. Same status; the page differs.
        new Accepted("an undecodable request body fails in the front, not in the app",
            Pattern.compile("(?!status line).*"), Pattern.compile("gzip request body")),
        // On the front the compression-gzip module wraps the ItkHandler and marks a compressible response from the
        // worker Vary: Accept-Encoding; in plain Jetty the webapp's error dispatch for an HTTP/2 request replaces
        // the response the module had marked.
        new Accepted("the front's compression module marks a worker's error page",
            Pattern.compile("header only in itk: \\[vary: Accept-Encoding]"), Pattern.compile("h2 error page")));

    /**
     * Accepted only when plain Jetty is compared with itself: its close after a body its app left unread follows
     * the body's arrival (see {@link #ACCEPTED}), so either of its two answers may have it.
     */
    private static final Accepted SELF_CLOSE = new Accepted("plain Jetty's close after an unread body is timing, on either side",
        Pattern.compile("header only in (plain|itk): \\[Connection: close]"));

    private final List<JettyBase> bases = new ArrayList<>();
    private final List<HttpClient> clients = new ArrayList<>();
    private Server plainMinimal;
    private Server itkMinimal;
    private Server plainFull;
    private Server itkFull;
    private int port;

    /**
     * A request of the table, and the requests that follow it on the same server.
     */
    private record Case(String name, List<String> steps)
    {
        @Override
        public String toString()
        {
            return name;
        }
    }

    private record Accepted(String name, Pattern difference, Pattern cases)
    {
        Accepted(String name, Pattern difference)
        {
            this(name, difference, Pattern.compile(".*"));
        }

        boolean accepts(String caseName, String found)
        {
            return cases.matcher(caseName).matches() && difference.matcher(found).matches();
        }
    }

    /**
     * A base running Jetty on its own loopback address, and the HTTP/2 client that reaches it.
     */
    private record Server(String name, JettyBase base, InetSocketAddress address, HttpClient http2)
    {
    }

    private static Case request(String name, String requests)
    {
        return new Case(name, List.of(requests.split(Pattern.quote(NEXT))));
    }

    @BeforeAll
    public void start() throws Exception
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "the front must run as root to start workers as other users (run the build as root)");
        List<String> addresses = List.of("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14");
        port = freePortOnAll(addresses);
        ExecutorService starter = Executors.newFixedThreadPool(2);
        try
        {
            Future<Server> pm = starter.submit(() -> plain("plain-minimal", "http,ee10-deploy", addresses.get(0)));
            Future<Server> im = starter.submit(() -> itk("itk-minimal", "http,itk", addresses.get(1), true));
            Future<Server> pf = starter.submit(() -> plain("plain-full", "http,ee10-deploy," + EXTRA_MODULES, addresses.get(2)));
            Future<Server> itf = starter.submit(() -> itk("itk-full", "http,itk," + EXTRA_MODULES, addresses.get(3), false));
            plainMinimal = get(pm);
            itkMinimal = get(im);
            plainFull = get(pf);
            itkFull = get(itf);
        }
        finally
        {
            starter.shutdownNow();
        }
    }

    private static <T> T get(Future<T> future) throws Exception
    {
        try
        {
            return future.get();
        }
        catch (ExecutionException x)
        {
            if (x.getCause() instanceof Exception cause)
                throw cause;
            throw x;
        }
    }

    /**
     * @return a port that is free on every address, so that each server has its own address and all the same port
     */
    private static int freePortOnAll(List<String> addresses) throws IOException
    {
        for (int attempt = 0; attempt < 20; attempt++)
        {
            int candidate;
            try (ServerSocket first = new ServerSocket(0, 50, InetAddress.getByName(addresses.get(0))))
            {
                candidate = first.getLocalPort();
            }
            boolean free = true;
            for (String address : addresses)
            {
                try (ServerSocket socket = new ServerSocket(candidate, 50, InetAddress.getByName(address)))
                {
                    assertEquals(candidate, socket.getLocalPort());
                }
                catch (IOException x)
                {
                    free = false;
                    break;
                }
            }
            if (free)
                return candidate;
        }
        throw new IOException("no port free on all of " + addresses);
    }

    private Server plain(String name, String modules, String address) throws Exception
    {
        JettyBase base = JettyBase.create("base-fidelity-" + name);
        base.startJar(null, "--approve-all-licenses", "--add-modules=" + modules);
        Files.copy(war(), base.dir.resolve("webapps/ROOT.war"));
        return start(name, base, address);
    }

    private Server itk(String name, String modules, String address, boolean survivor) throws Exception
    {
        JettyBase base = JettyBase.create("base-fidelity-" + name);
        base.startJar(null, "--approve-all-licenses", "--add-modules=" + modules);
        Path war = base.tenant("fidelity", TENANT, war());
        base.writeVhost("fidelity.xml", JettyBase.vhostXml(HOST, TENANT, base.dir.relativize(war)));
        if (survivor)
        {
            Path survivorWar = base.tenant("survivor", SURVIVOR, war());
            base.writeVhost("survivor.xml", JettyBase.vhostXml(SURVIVOR_HOST, SURVIVOR, base.dir.relativize(survivorWar)));
        }
        return start(name, base, address);
    }

    private static Path war()
    {
        return JettyBase.itDirectory().resolve("fidelity.war");
    }

    private Server start(String name, JettyBase base, String address) throws Exception
    {
        synchronized (bases)
        {
            bases.add(base);
        }
        base.start("jetty.http.host=" + address, "jetty.http.port=" + port);
        InetSocketAddress socketAddress = new InetSocketAddress(address, port);
        HttpClient http2 = new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client(new ClientConnector())));
        synchronized (bases)
        {
            clients.add(http2);
        }
        http2.setSocketAddressResolver((host, p, context, promise) -> promise.succeeded(List.of(socketAddress)));
        // The client adds nothing of its own and follows nothing: both servers get the same request, once.
        http2.getContentDecoderFactories().clear();
        http2.setUserAgentField(null);
        http2.setFollowRedirects(false);
        http2.setHttpCookieStore(new HttpCookieStore.Empty());
        http2.start();
        // The first request of a vhost starts its worker: not part of any comparison, and on a loaded machine the
        // first worker may miss the spawn timeout while the class-data archive is trained.
        warmUp(socketAddress, HOST);
        if (name.equals("itk-minimal"))
            warmUp(socketAddress, SURVIVOR_HOST);
        return new Server(name, base, socketAddress, http2);
    }

    private static void warmUp(InetSocketAddress address, String host)
    {
        await().atMost(JettyBase.TIMEOUT).pollInterval(Duration.ofMillis(500)).ignoreExceptions().until(() ->
            WireExchange.exchange(address, "GET /static/hello.txt HTTP/1.1\r\nHost: " + host + "\r\n\r\n", new byte[0]).head().status() == 200);
    }

    @AfterAll
    public void stop() throws Exception
    {
        clients.forEach(client -> LifeCycle.stop(client));
        AssertionError failure = null;
        for (JettyBase base : bases)
        {
            List<ProcessHandle> workers = base.process().descendants().filter(ProcessHandle::isAlive).toList();
            try
            {
                base.stop();
            }
            catch (AssertionError x)
            {
                failure = failure == null ? x : failure;
            }
            finally
            {
                base.close();
                workers.forEach(ProcessHandle::destroyForcibly);
            }
        }
        if (failure != null)
            throw failure;
    }

    @TestFactory
    public Stream<DynamicTest> testExactlyHttpAndItkAnswerAsPlainJetty()
    {
        return compare(plainMinimal, itkMinimal, CASES);
    }

    @TestFactory
    public Stream<DynamicTest> testWithJspJstlGzipAndH2cAnswerAsPlainJetty()
    {
        return compare(plainFull, itkFull, Stream.concat(CASES.stream(), HTTP2_CASES.stream()).toList());
    }

    /**
     * The oracle against itself: plain Jetty asked everything twice answers alike once what must differ is made
     * equal. A failure here means the comparison sees noise (a random or time-dependent value it does not
     * normalise), not a fault of jetty-itk.
     */
    @TestFactory
    public Stream<DynamicTest> testPlainJettyAnswersAlikeTwice()
    {
        return compare(plainFull, plainFull, Stream.concat(CASES.stream(), HTTP2_CASES.stream()).toList());
    }

    private static final Pattern CONTENT_LENGTH_DIFFERENCE = Pattern.compile("header Content-Length: plain \\[Content-Length: (\\d+)], itk \\[Content-Length: (\\d+)]");
    private static final Pattern BODY_LINE = Pattern.compile("body line only in (plain|itk): (.*)");

    /**
     * @return the Content-Length difference among {@code found} if it is the only other difference and equals
     * what the accepted body lines add up to (each line and its end), else null
     */
    private static String contentLengthFollowingAcceptedLines(List<String> found, List<String> accepted)
    {
        if (found.size() != 1 || accepted.isEmpty())
            return null;
        Matcher length = CONTENT_LENGTH_DIFFERENCE.matcher(found.get(0));
        if (!length.matches())
            return null;
        long delta = 0;
        for (String difference : accepted)
        {
            Matcher line = BODY_LINE.matcher(difference);
            if (!line.matches())
                return null;
            int bytes = line.group(2).getBytes(StandardCharsets.ISO_8859_1).length + 1;
            delta += line.group(1).equals("plain") ? bytes : -bytes;
        }
        return Long.parseLong(length.group(1)) - Long.parseLong(length.group(2)) == delta ? found.get(0) : null;
    }

    private Stream<DynamicTest> compare(Server plain, Server itk, List<Case> cases)
    {
        return cases.stream().map(c -> DynamicTest.dynamicTest(plain.name() + " vs " + itk.name() + ": " + c.name(), () -> compare(plain, itk, c)));
    }

    private void compare(Server plain, Server itk, Case c)
    {
        Map<String, String> plainState = new HashMap<>();
        Map<String, String> itkState = new HashMap<>();
        List<String> found = new ArrayList<>();
        List<String> accepted = new ArrayList<>();
        for (int step = 0; step < c.steps().size(); step++)
        {
            Observed expected = send(plain, c.steps().get(step), plainState);
            Observed actual = send(itk, c.steps().get(step), itkState);
            String prefix = c.steps().size() > 1 ? "request " + (step + 1) + ": " : "";
            List<String> stepFound = new ArrayList<>();
            List<String> stepAccepted = new ArrayList<>();
            for (String difference : ResponseComparison.differences(expected, actual))
            {
                Accepted reason = Stream.concat(ACCEPTED.stream(), plain == itk ? Stream.of(SELF_CLOSE) : Stream.empty())
                    .filter(a -> a.accepts(c.name(), difference)).findFirst().orElse(null);
                if (reason == null)
                {
                    stepFound.add(difference);
                }
                else
                {
                    stepAccepted.add(difference);
                    accepted.add(prefix + difference + " (accepted: " + reason.name() + ")");
                }
            }
            // The Content-Length of a body whose only differences are accepted lines differs by exactly those lines.
            String length = contentLengthFollowingAcceptedLines(stepFound, stepAccepted);
            if (length != null)
            {
                stepFound.remove(length);
                accepted.add(prefix + length + " (accepted: the accepted body lines' length)");
            }
            stepFound.forEach(difference -> found.add(prefix + difference));
        }
        String report = c.name() + ": " + found.size() + " difference(s), plain Jetty vs jetty-itk:\n  " + String.join("\n  ", found) +
            (accepted.isEmpty() ? "" : "\n accepted:\n  " + String.join("\n  ", accepted)) +
            "\n request:\n  " + String.join("\n  ", c.steps()).replace("\n", "\n  ");
        // Also in the output, so that one run lists every difference of every request.
        if (!found.isEmpty())
            System.out.println("DIFFERENCE " + plain.name() + " vs " + itk.name() + ": " + report);
        assertTrue(found.isEmpty(), report);
    }

    private Observed send(Server server, String template, Map<String, String> state)
    {
        String text = template.replace("{authority}", HOST + ":" + port).replace("{port}", String.valueOf(port));
        for (Map.Entry<String, String> entry : state.entrySet())
        {
            text = text.replace("{" + entry.getKey() + "}", entry.getValue());
        }
        text = FILLER.matcher(text.replace("\n", "\r\n")).replaceAll(filler -> filler(Integer.parseInt(filler.group(1))));
        int headEnd = text.indexOf("\r\n\r\n") + 4;
        byte[] body = text.substring(headEnd).getBytes(StandardCharsets.UTF_8);
        String head = text.substring(0, headEnd).replace("{length}", String.valueOf(body.length));
        try
        {
            Observed observed = head.substring(0, head.indexOf("\r\n")).endsWith(" HTTP/2")
                ? ResponseComparison.observe(sendHttp2(server, head, body))
                : ResponseComparison.observe(WireExchange.exchange(server.address(), head, body));
            remember(observed, state);
            return ResponseComparison.normalise(observed);
        }
        catch (Exception x)
        {
            return new Observed(List.of(), "no response: " + x, List.of(), new byte[0], List.of());
        }
    }

    /**
     * @return the text of a large body: numbered 10-character pieces, so that a piece lost or moved shows
     */
    private static String filler(int length)
    {
        StringBuilder text = new StringBuilder(length + 10);
        for (int piece = 0; text.length() < length; piece++)
        {
            text.append(String.format("%09d-", piece));
        }
        return text.substring(0, length);
    }

    private ContentResponse sendHttp2(Server server, String head, byte[] body) throws Exception
    {
        String[] lines = head.split("\r\n");
        String[] requestLine = lines[0].split(" ");
        Request request = server.http2().newRequest("http://" + HOST + ":" + port + requestLine[1])
            .method(requestLine[0])
            .timeout(Clients.TIMEOUT_SECONDS, TimeUnit.SECONDS);
        String contentType = null;
        for (int i = 1; i < lines.length; i++)
        {
            int colon = lines[i].indexOf(':');
            String name = lines[i].substring(0, colon);
            String value = lines[i].substring(colon + 1).strip();
            if ("Content-Type".equalsIgnoreCase(name))
                contentType = value;
            request.headers(headers -> headers.add(name, value));
        }
        if (body.length > 0)
            request.body(new BytesRequestContent(contentType, body));
        return request.send();
    }

    /**
     * Keeps what a following request of the same case may send back: the session cookie, ETag, Last-Modified.
     */
    private static void remember(Observed observed, Map<String, String> state)
    {
        for (Field field : observed.headers())
        {
            String name = field.name().toLowerCase(Locale.ENGLISH);
            if ("set-cookie".equals(name) && field.value().startsWith("JSESSIONID="))
                state.put("session", field.value().substring(0, field.value().indexOf(';') < 0 ? field.value().length() : field.value().indexOf(';')));
            else if ("etag".equals(name))
                state.put("etag", field.value());
            else if ("last-modified".equals(name))
                state.put("last-modified", field.value());
        }
    }

    /**
     * The app never sees the headers a client's {@code Connection} names, nor {@code Connection} itself: the front
     * is an intermediary (RFC 9110 7.6.1). The differential comparison accepts their absence; this test requires
     * it.
     */
    @Test
    public void testHeadersNamedInConnectionDoNotReachTheTenant() throws Exception
    {
        for (Server itk : List.of(itkMinimal, itkFull))
        {
            Response response = WireExchange.exchange(itk.address(), ("GET /echo HTTP/1.1\r\nHost: " + HOST + ":" + port +
                "\r\nConnection: keep-alive, X-Hop-Secret\r\nX-Hop-Secret: s3cret\r\nX-End-To-End: kept\r\n\r\n"), new byte[0]);
            String body = new String(response.body(), StandardCharsets.UTF_8);
            assertEquals(200, response.head().status(), itk.name() + ": " + body);
            assertTrue(body.contains("header X-End-To-End: kept\n") || body.contains("header x-end-to-end: kept\n"), itk.name() + ": " + body);
            assertFalse(body.toLowerCase(Locale.ENGLISH).contains("x-hop-secret"), itk.name() + ": the app sees a header the client named in Connection:\n" + body);
            assertFalse(body.toLowerCase(Locale.ENGLISH).contains("header connection:"), itk.name() + ": the app sees Connection:\n" + body);
        }
    }

    /**
     * <p>No client request can kill a worker: 100 HEAD, PUT and JSON POST requests to a vhost of the base with
     * exactly {@code http,itk}, while another client reads a slow streamed response from the same worker. The
     * worker keeps its pid, no request gets 502 or 503, and the stream arrives whole.</p>
     */
    @Test
    public void testClientRequestsNeverKillTheWorker() throws Exception
    {
        InetSocketAddress address = itkMinimal.address();
        String authority = SURVIVOR_HOST + ":" + port;
        int pid = Integer.parseInt(new String(WireExchange.exchange(address, "GET /pid HTTP/1.1\r\nHost: " + authority + "\r\n\r\n", new byte[0]).body(), StandardCharsets.UTF_8));
        assertEquals(List.of((long)pid), workerPids(SURVIVOR), "the vhost's worker, as the app and /proc see it");

        int lines = 60;
        try (Socket slow = new Socket())
        {
            slow.connect(address);
            slow.setSoTimeout((int)TimeUnit.SECONDS.toMillis(Clients.TIMEOUT_SECONDS));
            slow.getOutputStream().write(("GET /stream?lines=" + lines + "&delayMs=100 HTTP/1.1\r\nHost: " + authority +
                "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            // The stream is in flight once its first line arrived; the rest is read while the requests go.
            InputStream in = slow.getInputStream();
            byte[] start = readUntil(in, "line 1 of " + lines + "\n");
            CompletableFuture<Response> stream = CompletableFuture.supplyAsync(() ->
            {
                try
                {
                    return WireExchange.read(new SequenceInputStream(new ByteArrayInputStream(start), in), "GET");
                }
                catch (IOException x)
                {
                    throw new UncheckedIOException(x);
                }
            });

            Map<String, Integer> statuses = new LinkedHashMap<>();
            List<String> requests = List.of(
                "HEAD /echo HTTP/1.1\r\nHost: " + authority + "\r\n\r\n",
                "PUT /echo HTTP/1.1\r\nHost: " + authority + "\r\nContent-Type: text/plain;charset=utf-8\r\nContent-Length: 4\r\n\r\n",
                "POST /echo HTTP/1.1\r\nHost: " + authority + "\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n");
            List<String> bodies = List.of("", "put!", "{}  ");
            for (int i = 0; i < 100; i++)
            {
                String request = requests.get(i % 3);
                String method = request.substring(0, request.indexOf(' '));
                int status;
                try
                {
                    status = WireExchange.exchange(address, request, bodies.get(i % 3).getBytes(StandardCharsets.UTF_8)).head().status();
                }
                catch (IOException x)
                {
                    status = -1;
                }
                statuses.merge(method + " " + status, 1, Integer::sum);
            }
            boolean streaming = !stream.isDone();

            String streamed = statusAndBody(stream);
            String expected = "HTTP/1.1 200 OK\n" + IntStream.rangeClosed(1, lines).mapToObj(line -> "line " + line + " of " + lines + "\n").collect(Collectors.joining());
            List<Long> pidsAfter = workerPids(SURVIVOR);
            assertAll(
                () -> assertEquals(Map.of("HEAD 200", 34, "PUT 200", 33, "POST 200", 33), statuses, "statuses of the 100 requests (-1: no response)"),
                () -> assertEquals(expected, streamed, "the streamed response, whole"),
                () -> assertEquals(List.of((long)pid), pidsAfter, "the vhost's worker is the same process"));
            // Checked last: a stream the worker's death cut short also ends early.
            assertTrue(streaming, "the stream must still be in flight after the 100 requests: make it longer");
        }
    }

    private static String statusAndBody(CompletableFuture<Response> stream) throws Exception
    {
        try
        {
            Response response = stream.get(Clients.TIMEOUT_SECONDS, TimeUnit.SECONDS);
            return response.head().statusLine() + "\n" + new String(response.body(), StandardCharsets.UTF_8);
        }
        catch (ExecutionException x)
        {
            return "failed: " + x.getCause();
        }
    }

    /**
     * @return the bytes read up to and including the text
     */
    private static byte[] readUntil(InputStream in, String text) throws IOException
    {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        while (!bytes.toString(StandardCharsets.ISO_8859_1).contains(text))
        {
            int b = in.read();
            if (b < 0)
                throw new EOFException("the connection ended before '" + text.strip() + "': " + bytes.toString(StandardCharsets.ISO_8859_1));
            bytes.write(b);
        }
        return bytes.toByteArray();
    }

    /**
     * @return the pids of the processes of the front that run as the uid, from {@code /proc}
     */
    private List<Long> workerPids(int uid) throws IOException
    {
        List<Long> pids = new ArrayList<>();
        for (ProcessHandle process : itkMinimal.base().process().descendants().toList())
        {
            Path status = Path.of("/proc", String.valueOf(process.pid()), "status");
            if (!Files.exists(status))
                continue;
            for (String line : Files.readAllLines(status))
            {
                if (line.startsWith("Uid:") && line.split("\\s+")[1].equals(String.valueOf(uid)) && isJava(process))
                    pids.add(process.pid());
            }
        }
        return pids;
    }

    private static boolean isJava(ProcessHandle process)
    {
        return process.info().command().map(command -> command.endsWith("/java")).orElse(false);
    }
}
