package org.jettyitk.tests;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Collections;
import java.util.HexFormat;
import java.util.Map;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.jettyitk.internal.posix.Posix;

/**
 * <p>The tenant app of the tests: an ordinary ee10 servlet context, deployed in a worker as a handler class.
 * Each path shows one thing the tests check from the outside.</p>
 */
public class TestApp extends ServletContextHandler
{
    public TestApp()
    {
        super("/");
        addServlet(TestServlet.class, "/*");
    }

    /** The byte at offset i of a generated body: not a repeating short pattern, so that offsets matter. */
    public static byte byteAt(long i)
    {
        return (byte)((i * 31 + (i >>> 8)) % 251);
    }

    public static String sha256(byte[] bytes)
    {
        try
        {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        }
        catch (NoSuchAlgorithmException x)
        {
            throw new IllegalStateException(x);
        }
    }

    public static class TestServlet extends HttpServlet
    {
        @Override
        protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            String path = request.getPathInfo() == null ? "/" : request.getPathInfo();
            switch (path)
            {
                case "/whoami" -> whoami(response);
                case "/info" -> info(request, response);
                case "/echo" -> echo(request, response);
                case "/bytes" -> bytes(request, response);
                case "/status" -> response.setStatus(Integer.parseInt(request.getParameter("code")));
                case "/error" -> throw new IllegalStateException("tenant failure");
                case "/trailers" -> trailers(response);
                case "/print" -> print(response);
                case "/create" -> create(response);
                case "/read" -> read(request, response);
                case "/setuid" -> setuid(response);
                case "/sleep" -> sleep(request, response);
                default -> text(response, "path " + path + "\n");
            }
        }

        private static void text(HttpServletResponse response, String text) throws IOException
        {
            response.setContentType("text/plain;charset=utf-8");
            response.getWriter().print(text);
        }

        private static void whoami(HttpServletResponse response) throws IOException
        {
            StringBuilder out = new StringBuilder();
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
            {
                if (line.startsWith("Uid:") || line.startsWith("Gid:") || line.startsWith("Groups:") || line.startsWith("Cap"))
                    out.append(line).append('\n');
            }
            text(response, out.toString());
        }

        private static void info(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            StringBuilder out = new StringBuilder();
            out.append("method=").append(request.getMethod()).append('\n');
            out.append("requestURI=").append(request.getRequestURI()).append('\n');
            out.append("queryString=").append(request.getQueryString()).append('\n');
            out.append("remoteAddr=").append(request.getRemoteAddr()).append('\n');
            out.append("remotePort=").append(request.getRemotePort()).append('\n');
            out.append("localPort=").append(request.getLocalPort()).append('\n');
            out.append("serverName=").append(request.getServerName()).append('\n');
            out.append("serverPort=").append(request.getServerPort()).append('\n');
            out.append("scheme=").append(request.getScheme()).append('\n');
            out.append("secure=").append(request.isSecure()).append('\n');
            out.append("protocol=").append(request.getProtocol()).append('\n');
            for (String name : Collections.list(request.getHeaderNames()))
            {
                out.append("header ").append(name.toLowerCase()).append('=')
                    .append(String.join("|", Collections.list(request.getHeaders(name)))).append('\n');
            }
            text(response, out.toString());
        }

        private static void echo(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            byte[] body = request.getInputStream().readAllBytes();
            response.setHeader("X-Sha256", sha256(body));
            response.setHeader("X-Length", Integer.toString(body.length));
            for (Map.Entry<String, String> trailer : request.getTrailerFields().entrySet())
            {
                response.setHeader("X-Request-Trailer-" + trailer.getKey(), trailer.getValue());
            }
            response.setContentType("application/octet-stream");
            response.getOutputStream().write(body);
        }

        private static void bytes(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            long n = Long.parseLong(request.getParameter("n"));
            if (request.getParameter("length") != null)
                response.setContentLengthLong(n);
            response.setContentType("application/octet-stream");
            OutputStream out = response.getOutputStream();
            byte[] chunk = new byte[8192];
            for (long i = 0; i < n; )
            {
                int length = (int)Math.min(chunk.length, n - i);
                for (int j = 0; j < length; j++)
                {
                    chunk[j] = byteAt(i + j);
                }
                out.write(chunk, 0, length);
                i += length;
                if (request.getParameter("flush") != null)
                    out.flush();
            }
        }

        private static void trailers(HttpServletResponse response) throws IOException
        {
            response.setTrailerFields(() -> Map.of("x-checksum", "c0ffee"));
            response.setContentType("text/plain");
            response.getOutputStream().write("with trailers\n".getBytes());
            response.flushBuffer();
        }

        private static void print(HttpServletResponse response) throws IOException
        {
            // Bytes that would break the protocol if they reached the pipe: an HTTP/2 preface and frame headers.
            for (int i = 0; i < 2000; i++)
            {
                System.out.println("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n stdout line " + i);
                System.err.println("\u0000\u0000\u0004\u0001\u0000\u0000\u0000\u0000 stderr line " + i);
            }
            System.out.flush();
            new java.io.FileOutputStream(java.io.FileDescriptor.out).write("raw write to fd 1\n".getBytes());
            text(response, "printed\n");
        }

        private static void create(HttpServletResponse response) throws IOException
        {
            Path file = Files.createTempFile("created-", ".txt");
            text(response, "path=" + file + "\nuid=" + Files.getAttribute(file, "unix:uid") + "\n");
        }

        private static void read(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            Path path = Path.of(request.getParameter("path"));
            try (InputStream in = Files.newInputStream(path))
            {
                text(response, "read=" + new String(in.readAllBytes()).strip() + "\n");
            }
            catch (IOException x)
            {
                text(response, "denied=" + x.getClass().getSimpleName() + "\n");
            }
        }

        private static void setuid(HttpServletResponse response) throws IOException
        {
            String result;
            try
            {
                Posix.get().setresuid(0, 0, 0);
                result = "setuid=succeeded";
            }
            catch (IOException x)
            {
                result = "setuid=failed " + x.getMessage();
            }
            text(response, result + "\nuid=" + Posix.get().getuid() + "\n");
        }

        private static void sleep(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            try
            {
                Thread.sleep(Long.parseLong(request.getParameter("ms")));
            }
            catch (InterruptedException x)
            {
                Thread.currentThread().interrupt();
            }
            text(response, "slept\n");
        }
    }
}
