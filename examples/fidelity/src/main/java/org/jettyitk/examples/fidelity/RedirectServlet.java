package org.jettyitk.examples.fidelity;

import java.io.IOException;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * <p>{@code sendRedirect} to the location {@code ?to=} names, relative or absolute, as given.</p>
 */
public class RedirectServlet extends HttpServlet
{
    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException
    {
        response.sendRedirect(new Query(request).get("to", "target"));
    }
}
