package org.jettyitk.examples.fidelity;

import java.io.IOException;
import java.io.PrintWriter;

import jakarta.servlet.http.Cookie;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;

/**
 * <p>A session (its cookie's attributes are web.xml's {@code cookie-config}) and its counter; with {@code ?cookie}
 * also a cookie of the app's own with Path, HttpOnly, SameSite and a custom attribute.</p>
 */
public class SessionServlet extends HttpServlet
{
    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
    {
        HttpSession session = request.getSession(true);
        Integer count = (Integer)session.getAttribute("count");
        count = count == null ? 1 : count + 1;
        session.setAttribute("count", count);
        if (new Query(request).has("cookie"))
        {
            Cookie cookie = new Cookie("app-cookie", "value-1");
            cookie.setPath("/session");
            cookie.setHttpOnly(true);
            cookie.setAttribute("SameSite", "Strict");
            cookie.setAttribute("X-Custom", "custom");
            response.addCookie(cookie);
        }
        response.setContentType("text/plain;charset=utf-8");
        PrintWriter out = response.getWriter();
        out.printf("new: %b, count: %d, requested id valid: %b, from cookie: %b%n", session.isNew(), count,
            request.isRequestedSessionIdValid(), request.isRequestedSessionIdFromCookie());
        out.print(EchoServlet.report(request, "none"));
    }
}
