package org.jettyitk.distribution;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

import org.jettyitk.distribution.ResponseComparison.Observed;
import org.jettyitk.distribution.WireExchange.Field;
import org.jettyitk.distribution.WireExchange.Head;
import org.jettyitk.distribution.WireExchange.Response;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * <p>The oracle's comparison: what it must find, and what it must not.</p>
 */
public class ResponseComparisonTest
{
    private static final String OK = "HTTP/1.1 200 OK";

    private static Observed observed(String statusLine, List<Head> interim, byte[] body, String... headers) throws IOException
    {
        List<Field> fields = new ArrayList<>();
        for (String header : headers)
        {
            int colon = header.indexOf(':');
            fields.add(new Field(header.substring(0, colon), header.substring(colon + 1).strip()));
        }
        return ResponseComparison.normalise(ResponseComparison.observe(new Response(interim, new Head(statusLine, fields), body, List.of())));
    }

    private static Observed observed(String body, String... headers) throws IOException
    {
        return observed(OK, List.of(), body.getBytes(StandardCharsets.UTF_8), headers);
    }

    @Test
    public void testWhatMustDifferIsNoDifference() throws IOException
    {
        Observed plain = observed("a\nb\n", "Date: Fri, 04 Dec 2026 18:18:49 GMT", "Last-Modified: Fri, 04 Dec 2026 18:18:49 GMT",
            "Set-Cookie: JSESSIONID=node01abc.node0; Path=/; HttpOnly; SameSite=Lax");
        Observed itk = observed("a\nb\n", "Date: Sat, 05 Dec 2026 00:00:00 GMT", "Last-Modified: Fri, 04 Dec 2026 18:19:07 GMT",
            "Set-Cookie: JSESSIONID=node0zz9.node0; Path=/; HttpOnly; SameSite=Lax");

        assertEquals(List.of(), ResponseComparison.differences(plain, itk));
    }

    @Test
    public void testCookieAttributesAreCompared() throws IOException
    {
        Observed plain = observed("", "Set-Cookie: JSESSIONID=node01abc.node0; Path=/; HttpOnly; SameSite=Lax");
        Observed itk = observed("", "Set-Cookie: JSESSIONID=node0zz9.node0; Path=/; HttpOnly");

        assertEquals(List.of("header Set-Cookie: plain [Set-Cookie: JSESSIONID=(a session id); Path=/; HttpOnly; SameSite=Lax], " +
            "itk [Set-Cookie: JSESSIONID=(a session id); Path=/; HttpOnly]"), ResponseComparison.differences(plain, itk));
    }

    @Test
    public void testHeaderNameCaseIsADifference() throws IOException
    {
        Observed plain = observed("", "X-App-MiXed: v");
        Observed itk = observed("", "x-app-mixed: v");

        assertEquals(List.of("header name case: plain [X-App-MiXed], itk [x-app-mixed]"), ResponseComparison.differences(plain, itk));
    }

    @Test
    public void testRepeatedHeadersInAnotherOrderAreADifference() throws IOException
    {
        Observed plain = observed("", "X-Repeat: 1", "X-Repeat: 2");
        Observed itk = observed("", "X-Repeat: 2", "X-Repeat: 1");

        assertEquals(List.of("header X-Repeat: plain [X-Repeat: 1, X-Repeat: 2], itk [X-Repeat: 2, X-Repeat: 1]"), ResponseComparison.differences(plain, itk));
    }

    @Test
    public void testOrderOfAppHeadersIsCompared() throws IOException
    {
        Observed plain = observed("", "Server: Jetty", "X-App-One: 1", "X-App-Two: 2");
        Observed itk = observed("", "X-App-Two: 2", "X-App-One: 1", "Server: Jetty");

        assertEquals(List.of("order of the headers the app set: plain [x-app-one, x-app-two], itk [x-app-two, x-app-one]"),
            ResponseComparison.differences(plain, itk));
    }

    @Test
    public void testMissingAndExtraHeadersAndStatus() throws IOException
    {
        Observed plain = observed(OK, List.of(), new byte[0], "Accept-Ranges: bytes");
        Observed itk = observed("HTTP/1.1 500 Server Error", List.of(), new byte[0], "Cache-Control: no-store");

        assertEquals(List.of("status line: plain 'HTTP/1.1 200 OK', itk 'HTTP/1.1 500 Server Error'",
            "header only in plain: [Accept-Ranges: bytes]", "header only in itk: [Cache-Control: no-store]"), ResponseComparison.differences(plain, itk));
    }

    @Test
    public void testInterimResponsesAreComparedWithoutTheirDate() throws IOException
    {
        Head plainHint = new Head("HTTP/1.1 103 Early Hints", List.of(new Field("Date", "Fri, 04 Dec 2026 18:18:49 GMT"), new Field("Link", "</a>")));
        Head itkHint = new Head("HTTP/1.1 103 Early Hints", List.of(new Field("Date", "Fri, 04 Dec 2026 18:19:00 GMT"), new Field("Link", "</a>")));
        Head bare = new Head("HTTP/1.1 103 Early Hints", List.of());

        assertEquals(List.of(), ResponseComparison.differences(observed(OK, List.of(plainHint), new byte[0]), observed(OK, List.of(itkHint), new byte[0])));
        assertEquals(1, ResponseComparison.differences(observed(OK, List.of(plainHint), new byte[0]), observed(OK, List.of(bare), new byte[0])).size());
    }

    @Test
    public void testBodiesAreComparedLineByLine() throws IOException
    {
        Observed plain = observed("method: GET\nheader Host: h:1\nsame\n");
        Observed itk = observed("method: GET\nsame\ngetHeader(Host): null\n");

        assertEquals(List.of("body line only in plain: header Host: h:1", "body line only in itk: getHeader(Host): null"),
            ResponseComparison.differences(plain, itk));
        assertEquals(List.of("body: same lines, other order or line ends (plain 4 bytes, itk 4 bytes)"),
            ResponseComparison.differences(observed("a\nb\n"), observed("b\na\n")));
    }

    @Test
    public void testGzipBodiesAreComparedDecoded() throws IOException
    {
        String text = "the quick brown fox jumps over the lazy dog\n".repeat(100);
        Observed fast = observed(OK, List.of(), gzip(text, Deflater.BEST_SPEED), "Content-Encoding: gzip");
        Observed small = observed(OK, List.of(), gzip(text, Deflater.BEST_COMPRESSION), "Content-Encoding: gzip");
        Observed other = observed(OK, List.of(), gzip(text + "one more line\n", Deflater.BEST_SPEED), "Content-Encoding: gzip");

        assertEquals(List.of(), ResponseComparison.differences(fast, small));
        assertEquals(List.of("body line only in itk: one more line"), ResponseComparison.differences(fast, other));
    }

    private static byte[] gzip(String text, int level) throws IOException
    {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(bytes)
        {
            {
                def.setLevel(level);
            }
        })
        {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
        return bytes.toByteArray();
    }

    @Test
    public void testByterangesBoundaryIsNoDifference() throws IOException
    {
        Observed plain = observed("--abc123\nContent-Range: bytes 0-1/20\n\nhe\n--abc123--\n", "Content-Type: multipart/byteranges; boundary=abc123");
        Observed itk = observed("--xyz789\nContent-Range: bytes 0-1/20\n\nhe\n--xyz789--\n", "Content-Type: multipart/byteranges; boundary=xyz789");
        Observed wrong = observed("--xyz789\nContent-Range: bytes 0-2/20\n\nhel\n--xyz789--\n", "Content-Type: multipart/byteranges; boundary=xyz789");

        assertEquals(List.of(), ResponseComparison.differences(plain, itk));
        assertEquals(4, ResponseComparison.differences(plain, wrong).size(), ResponseComparison.differences(plain, wrong).toString());
    }
}
