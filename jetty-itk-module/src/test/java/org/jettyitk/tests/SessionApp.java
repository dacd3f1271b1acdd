package org.jettyitk.tests;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;

/**
 * <p>A tenant app with HTTP sessions, as a user meets them: {@code /count} increments a counter kept in the
 * user's session and answers {@code count=N}, {@code session=ID} and the worker's {@code pid}. With
 * {@code ?hold=MS} it completes the response (all of its {@code Content-Length}) and then keeps the request for
 * that long: the client has its answer while the request is not over. With {@code ?unserializable} it also
 * puts an attribute in the session that is not {@code Serializable}.</p>
 * <p>Deployed in a worker as a handler class; its {@code SessionHandler} takes the session store the worker
 * puts on its server, exactly as a WAR's does.</p>
 */
public class SessionApp extends ServletContextHandler
{
    public static final String COUNT = "count";
    /** Set by {@code /count?unserializable}: a value no store can write. */
    public static final String UNSERIALIZABLE = "unserializable";

    public SessionApp()
    {
        super("/", ServletContextHandler.SESSIONS);
        addServlet(CounterServlet.class, "/count");
    }

    public static class CounterServlet extends HttpServlet
    {
        @Override
        protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            HttpSession session = request.getSession(true);
            Integer previous = (Integer)session.getAttribute(COUNT);
            int count = previous == null ? 1 : previous + 1;
            session.setAttribute(COUNT, count);
            if (request.getParameter("unserializable") != null)
                session.setAttribute(UNSERIALIZABLE, new Object());
            byte[] body = ("count=" + count + "\nsession=" + session.getId() + "\npid=" + ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8);
            response.setContentType("text/plain");
            response.setContentLength(body.length);
            response.getOutputStream().write(body);
            response.flushBuffer();
            String hold = request.getParameter("hold");
            if (hold != null)
            {
                try
                {
                    Thread.sleep(Long.parseLong(hold));
                }
                catch (InterruptedException x)
                {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
