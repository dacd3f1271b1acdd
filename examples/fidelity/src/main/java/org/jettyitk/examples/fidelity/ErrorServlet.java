package org.jettyitk.examples.fidelity;

import java.io.IOException;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * <p>{@code sendError(code, message)} with {@code ?code=} and {@code ?message=}, or, with {@code ?throw}, an
 * exception: web.xml sends some codes and the exception to {@link ErrorPageServlet}, the others to Jetty's own
 * error page.</p>
 */
public class ErrorServlet extends HttpServlet
{
    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException
    {
        Query query = new Query(request);
        if (query.has("throw"))
            throw new IllegalStateException("thrown by the app");
        if (query.has("message"))
            response.sendError(query.getInt("code", 500), query.get("message"));
        else
            response.sendError(query.getInt("code", 500));
    }
}
