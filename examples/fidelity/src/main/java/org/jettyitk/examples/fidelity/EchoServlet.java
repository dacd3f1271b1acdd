package org.jettyitk.examples.fidelity;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

import jakarta.servlet.http.Cookie;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * <p>Answers every method (it overrides {@code service}, so HttpServlet's own HEAD, OPTIONS and TRACE handling is
 * not used) with a text report of the request as the servlet API shows it: method, URL, server name and port,
 * scheme, protocol, every header in order with its name's case, the body with its length and character encoding
 * (or the parameters), and the cookies.</p>
 * <p>The query string chooses the response:</p>
 * <ul>
 *   <li>{@code read=body} (default), {@code params} (report {@code getParameterMap()}, which reads a form body) or
 *   {@code none};</li>
 *   <li>{@code add=Name:value}, repeatable: {@code addHeader}, in that order; {@code type=}: the content type;</li>
 *   <li>{@code interim=N}: {@code sendError(N)} for an interim status (102, 103), after the headers;
 *   {@code status=N}: {@code setStatus(N)};</li>
 *   <li>{@code nobody}: no body at all.</li>
 * </ul>
 */
public class EchoServlet extends HttpServlet
{
    private static final Pattern SESSION_ID = Pattern.compile("JSESSIONID=[^;\\s]*");

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException
    {
        Query query = new Query(request);
        String report = report(request, query.get("read", "body"));

        for (String header : query.getAll("add"))
        {
            int colon = header.indexOf(':');
            response.addHeader(header.substring(0, colon), header.substring(colon + 1));
        }
        // After the headers: an Early Hints response carries those set so far.
        if (query.has("interim"))
            response.sendError(query.getInt("interim", 0));
        if (query.has("status"))
            response.setStatus(query.getInt("status", 200));
        if (query.has("nobody"))
            return;
        response.setContentType(query.get("type", "text/plain;charset=utf-8"));
        response.getWriter().print(report);
    }

    static String report(HttpServletRequest request, String read) throws IOException
    {
        StringWriter text = new StringWriter();
        PrintWriter out = new PrintWriter(text);
        out.printf("method: %s%n", request.getMethod());
        out.printf("requestURL: %s%n", request.getRequestURL());
        out.printf("requestURI: %s%n", request.getRequestURI());
        out.printf("queryString: %s%n", request.getQueryString());
        out.printf("servletPath: %s, pathInfo: %s, contextPath: '%s'%n", request.getServletPath(), request.getPathInfo(), request.getContextPath());
        out.printf("protocol: %s, scheme: %s, secure: %b%n", request.getProtocol(), request.getScheme(), request.isSecure());
        out.printf("serverName: %s, serverPort: %d%n", request.getServerName(), request.getServerPort());
        for (String name : Collections.list(request.getHeaderNames()))
        {
            for (String value : Collections.list(request.getHeaders(name)))
            {
                // The session id differs from server to server (and so does its length): only its place is shown.
                out.printf("header %s: %s%n", name, SESSION_ID.matcher(value).replaceAll("JSESSIONID=(a session id)"));
            }
        }
        out.printf("getHeader(Host): %s%n", request.getHeader("Host"));
        out.printf("getHeader(host): %s%n", request.getHeader("host"));
        out.printf("contentType: %s, characterEncoding: %s, contentLength: %d%n", request.getContentType(),
            request.getCharacterEncoding(), request.getContentLengthLong());
        Cookie[] cookies = request.getCookies();
        if (cookies != null)
        {
            for (Cookie cookie : cookies)
            {
                // The session id differs from server to server: only whether there is one is reported.
                String value = "JSESSIONID".equals(cookie.getName()) ? "(a session id)" : cookie.getValue();
                out.printf("cookie %s=%s%n", cookie.getName(), value);
            }
        }
        if ("params".equals(read))
        {
            for (Map.Entry<String, String[]> parameter : request.getParameterMap().entrySet())
            {
                out.printf("parameter %s=%s%n", parameter.getKey(), Arrays.toString(parameter.getValue()));
            }
            out.printf("getParameter(name): %s%n", request.getParameter("name"));
        }
        else if ("body".equals(read))
        {
            byte[] body;
            try (InputStream in = request.getInputStream())
            {
                body = in.readAllBytes();
            }
            String encoding = request.getCharacterEncoding();
            Charset charset = encoding == null ? StandardCharsets.UTF_8 : Charset.forName(encoding);
            out.printf("body length: %d%n", body.length);
            out.printf("body: %s%n", new String(body, charset));
            // Once the body is read, the trailers are known; sorted, as the servlet API gives no order.
            out.printf("trailers: %s%n", request.isTrailerFieldsReady() ? new TreeMap<>(request.getTrailerFields()) : "(not ready)");
        }
        out.flush();
        return text.toString();
    }
}
