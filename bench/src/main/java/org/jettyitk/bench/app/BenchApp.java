package org.jettyitk.bench.app;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.concurrent.atomic.AtomicLong;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.eclipse.jetty.ee10.servlet.DefaultServlet;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.util.resource.ResourceFactory;

/**
 * <p>The benchmark's application: one ee10 servlet context that plain Jetty serves in-process and that a
 * jetty-itk worker loads from the tenant's directory as a handler class.</p>
 * <table>
 *   <caption>Paths</caption>
 *   <tr><th>path</th><th>answer</th></tr>
 *   <tr><td>{@code /tiny}</td><td>a dynamic text of about 40 bytes</td></tr>
 *   <tr><td>{@code /page}</td><td>a dynamic HTML page of about {@value #PAGE_BYTES} bytes, made of tables
 *   like a {@code phpinfo()} page</td></tr>
 *   <tr><td>{@code /upload}</td><td>reads and counts the request body</td></tr>
 *   <tr><td>anything else</td><td>a file of {@code www/} ({@link #STATIC_FILE}: 1 MiB) by Jetty's
 *   {@link DefaultServlet}</td></tr>
 * </table>
 * <p>In a worker, the no-argument constructor finds {@code www/} beside the {@code classes/} directory it was
 * loaded from: {@code <app>/classes} and {@code <app>/www}, both owned by the tenant.</p>
 */
public class BenchApp extends ServletContextHandler
{
    public static final String CLASSES_DIRECTORY = "classes";
    public static final String STATIC_DIRECTORY = "www";
    public static final String STATIC_FILE = "1mb.bin";
    public static final int STATIC_FILE_BYTES = 1024 * 1024;
    /** The size of a phpinfo() page, which the DESIGN's mpm-itk comparison used. */
    public static final int PAGE_BYTES = 75 * 1024;

    public BenchApp()
    {
        this(defaultStaticDirectory());
    }

    public BenchApp(Path staticDirectory)
    {
        super("/");
        setBaseResource(ResourceFactory.root().newResource(staticDirectory));
        addServlet(TinyServlet.class, "/tiny");
        addServlet(PageServlet.class, "/page");
        addServlet(UploadServlet.class, "/upload");
        ServletHolder files = addServlet(DefaultServlet.class, "/");
        files.setInitParameter("dirAllowed", "false");
    }

    /**
     * @return {@code <app>/www} when this class was loaded from {@code <app>/classes}
     */
    static Path defaultStaticDirectory()
    {
        try
        {
            URL location = BenchApp.class.getProtectionDomain().getCodeSource().getLocation();
            Path classes = Path.of(location.toURI());
            Path www = classes.resolveSibling(STATIC_DIRECTORY);
            if (!Files.isDirectory(www))
                throw new IllegalStateException("no " + STATIC_DIRECTORY + "/ beside " + classes + ": BenchApp must be loaded from <app>/" + CLASSES_DIRECTORY);
            return www;
        }
        catch (URISyntaxException x)
        {
            throw new IllegalStateException(x);
        }
    }

    /**
     * Writes the static file: {@value #STATIC_FILE_BYTES} bytes that do not compress, the same on every run.
     */
    public static void writeStaticFile(Path staticDirectory) throws IOException
    {
        byte[] bytes = new byte[STATIC_FILE_BYTES];
        new java.util.Random(42).nextBytes(bytes);
        Files.createDirectories(staticDirectory);
        Files.write(staticDirectory.resolve(STATIC_FILE), bytes);
    }

    /**
     * Left-pads with zeros: every response of a path has the same length, as ab checks.
     */
    static String pad(String digits, int width)
    {
        return digits.length() >= width ? digits : "0".repeat(width - digits.length()) + digits;
    }

    public static class TinyServlet extends HttpServlet
    {
        private final AtomicLong requests = new AtomicLong();

        @Override
        protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            response.setContentType("text/plain;charset=utf-8");
            response.getWriter().print("Hello from the bench app, request " + pad(Long.toString(requests.incrementAndGet()), 10) + "\n");
        }
    }

    /**
     * A page shaped like {@code phpinfo()}: sections of two-column tables, computed on each request from the
     * request's headers and a counter, so nothing is cached.
     */
    public static class PageServlet extends HttpServlet
    {
        private static final int ROWS_PER_SECTION = 40;
        private final AtomicLong requests = new AtomicLong();

        @Override
        protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            long n = requests.incrementAndGet();
            response.setContentType("text/html;charset=utf-8");
            PrintWriter out = response.getWriter();
            StringBuilder page = new StringBuilder(PAGE_BYTES + 512);
            page.append("<!DOCTYPE html>\n<html><head><title>bench info</title><style>")
                .append("body{font-family:sans-serif}table{border-collapse:collapse;width:934px}")
                .append("td,th{border:1px solid #666;padding:4px 5px}.e{background:#ccf;width:300px}.v{background:#ddd}")
                .append("</style></head><body>\n<h1>Bench info, request ").append(pad(Long.toString(n), 10)).append("</h1>\n");
            page.append("<h2>Request headers</h2>\n<table>\n");
            for (String name : Collections.list(request.getHeaderNames()))
            {
                row(page, name, request.getHeader(name));
            }
            page.append("</table>\n");
            long value = n;
            for (int section = 0; page.length() < PAGE_BYTES - 200; section++)
            {
                page.append("<h2>Section ").append(section).append("</h2>\n<table>\n");
                for (int i = 0; i < ROWS_PER_SECTION && page.length() < PAGE_BYTES - 200; i++)
                {
                    value = value * 6364136223846793005L + 1442695040888963407L;
                    row(page, "directive_" + section + "_" + i, pad(Long.toHexString(value), 16) + " / " + pad(Long.toString(value >>> 20, 36), 9));
                }
                page.append("</table>\n");
            }
            page.append("</body></html>\n");
            out.write(page.toString());
        }

        private static void row(StringBuilder page, String name, String value)
        {
            page.append("<tr><td class=\"e\">").append(escape(name)).append("</td><td class=\"v\">").append(escape(value)).append("</td></tr>\n");
        }

        private static String escape(String text)
        {
            return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
        }
    }

    public static class UploadServlet extends HttpServlet
    {
        @Override
        protected void doPost(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            long total = 0;
            byte[] buffer = new byte[64 * 1024];
            try (InputStream in = request.getInputStream())
            {
                int read;
                while ((read = in.read(buffer)) >= 0)
                {
                    total += read;
                }
            }
            response.setContentType("text/plain;charset=utf-8");
            response.getWriter().print("received " + total + " bytes\n");
        }
    }
}
