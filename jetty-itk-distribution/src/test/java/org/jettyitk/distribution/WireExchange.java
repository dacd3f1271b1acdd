package org.jettyitk.distribution;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * <p>One HTTP/1.x request written as bytes on a new connection, and its response read as bytes: the status line
 * and every header line as the server wrote them (names in their case, in order, repeated ones apart), interim
 * responses, the body de-chunked, and the trailers. The response is framed as RFC 9112 section 6.3 says (no body
 * for HEAD, 1xx, 204 and 304; chunked; Content-Length; else up to the end of the connection), so that a
 * keep-alive connection needs no {@code Connection: close} in the request.</p>
 * <p>A request with {@code Expect: 100-continue} is written in two parts, as a client that waits for the
 * {@code 100 Continue} does: the head, then, once the server answered 100 (or after {@link #CONTINUE_WAIT_MILLIS}
 * without an answer, as curl does), the body; if the server answers with a final status instead, the body is
 * never sent.</p>
 */
public final class WireExchange
{
    /** Longest wait for a {@code 100 Continue} before the body is sent anyway. */
    public static final int CONTINUE_WAIT_MILLIS = 3000;
    private static final int TIMEOUT_MILLIS = (int)TimeUnit.SECONDS.toMillis(Clients.TIMEOUT_SECONDS);

    private WireExchange()
    {
    }

    /**
     * One header line, as on the wire.
     */
    public record Field(String name, String value)
    {
        @Override
        public String toString()
        {
            return name + ": " + value;
        }
    }

    /**
     * A status line and its header lines.
     */
    public record Head(String statusLine, List<Field> fields)
    {
        @Override
        public String toString()
        {
            return statusLine + " " + fields;
        }

        public int status()
        {
            return Integer.parseInt(statusLine.split(" ")[1]);
        }

        public String get(String name)
        {
            for (Field field : fields)
            {
                if (field.name().equalsIgnoreCase(name))
                    return field.value();
            }
            return null;
        }
    }

    /**
     * A response: the interim ones before it, its head, its body (de-chunked) and its trailers.
     */
    public record Response(List<Head> interim, Head head, byte[] body, List<Field> trailers)
    {
    }

    /**
     * Sends the request and reads its response.
     *
     * @param head the request line and headers, ending with the empty line
     * @param body the body bytes as they go on the wire (already chunked if the head says so)
     */
    public static Response exchange(InetSocketAddress address, String head, byte[] body) throws IOException
    {
        String method = head.substring(0, head.indexOf(' '));
        boolean expectContinue = head.toLowerCase(Locale.ENGLISH).contains("\r\nexpect: 100-continue\r\n");
        try (Socket socket = new Socket())
        {
            socket.connect(address, TIMEOUT_MILLIS);
            socket.setSoTimeout(TIMEOUT_MILLIS);
            OutputStream out = socket.getOutputStream();
            InputStream in = new BufferedInputStream(socket.getInputStream());
            List<Head> interim = new ArrayList<>();
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            Head first = null;
            if (expectContinue && body.length > 0)
            {
                out.flush();
                socket.setSoTimeout(CONTINUE_WAIT_MILLIS);
                try
                {
                    first = readHead(in);
                }
                catch (SocketTimeoutException x)
                {
                    // No 100 Continue: the body goes anyway.
                }
                socket.setSoTimeout(TIMEOUT_MILLIS);
                if (first != null && first.status() == 100)
                {
                    interim.add(first);
                    first = null;
                    out.write(body);
                }
                else if (first == null)
                {
                    out.write(body);
                }
            }
            else
            {
                out.write(body);
            }
            out.flush();
            return read(in, method, first, interim);
        }
    }

    /**
     * Reads a response from the stream: its interim responses, head, body and trailers.
     *
     * @param method the method of the request, which says whether the response has a body
     */
    public static Response read(InputStream in, String method) throws IOException
    {
        return read(in, method, null, new ArrayList<>());
    }

    private static Response read(InputStream in, String method, Head first, List<Head> interim) throws IOException
    {
        Head response = first != null ? first : readHead(in);
        while (response.status() / 100 == 1 && response.status() != 101)
        {
            interim.add(response);
            response = readHead(in);
        }
        return readBody(in, method, response, interim);
    }

    private static Response readBody(InputStream in, String method, Head head, List<Head> interim) throws IOException
    {
        int status = head.status();
        if ("HEAD".equals(method) || status / 100 == 1 || status == 204 || status == 304)
            return new Response(interim, head, new byte[0], List.of());
        String transferEncoding = head.get("Transfer-Encoding");
        if (transferEncoding != null && transferEncoding.toLowerCase(Locale.ENGLISH).endsWith("chunked"))
        {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            while (true)
            {
                String sizeLine = readLine(in);
                if (sizeLine.isEmpty())
                    throw new EOFException("the connection ended in the chunked body, after " + body.size() + " bytes");
                int semicolon = sizeLine.indexOf(';');
                int size = Integer.parseInt((semicolon < 0 ? sizeLine : sizeLine.substring(0, semicolon)).trim(), 16);
                if (size == 0)
                    return new Response(interim, head, body.toByteArray(), readFields(in));
                body.write(readExactly(in, size));
                if (!readLine(in).isEmpty())
                    throw new IOException("no CRLF after a chunk of " + size + " bytes");
            }
        }
        String contentLength = head.get("Content-Length");
        if (contentLength != null)
            return new Response(interim, head, readExactly(in, Integer.parseInt(contentLength.trim())), List.of());
        return new Response(interim, head, in.readAllBytes(), List.of());
    }

    private static byte[] readExactly(InputStream in, int length) throws IOException
    {
        byte[] bytes = in.readNBytes(length);
        if (bytes.length != length)
            throw new EOFException("the connection ended after " + bytes.length + " of " + length + " bytes");
        return bytes;
    }

    private static Head readHead(InputStream in) throws IOException
    {
        String statusLine = readLine(in);
        if (statusLine.isEmpty())
            throw new IOException("no status line");
        return new Head(statusLine, readFields(in));
    }

    private static List<Field> readFields(InputStream in) throws IOException
    {
        List<Field> fields = new ArrayList<>();
        for (String line = readLine(in); !line.isEmpty(); line = readLine(in))
        {
            int colon = line.indexOf(':');
            if (colon <= 0)
                throw new IOException("not a header line: " + line);
            fields.add(new Field(line.substring(0, colon), line.substring(colon + 1).strip()));
        }
        return fields;
    }

    /**
     * @return a line without its CRLF; an empty string at the end of the connection before any byte
     */
    private static String readLine(InputStream in) throws IOException
    {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        while (true)
        {
            int b = in.read();
            if (b < 0)
                break;
            if (b == '\n')
                break;
            line.write(b);
        }
        String text = line.toString(StandardCharsets.ISO_8859_1);
        return text.endsWith("\r") ? text.substring(0, text.length() - 1) : text;
    }
}
