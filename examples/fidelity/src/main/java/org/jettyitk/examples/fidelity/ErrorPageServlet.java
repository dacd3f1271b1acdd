package org.jettyitk.examples.fidelity;

import java.io.IOException;
import java.io.PrintWriter;

import jakarta.servlet.RequestDispatcher;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * <p>The app's error page: the error attributes the container gives it.</p>
 */
public class ErrorPageServlet extends HttpServlet
{
    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException
    {
        response.setContentType("text/plain;charset=utf-8");
        PrintWriter out = response.getWriter();
        out.printf("error page of the app%n");
        out.printf("status: %s%n", request.getAttribute(RequestDispatcher.ERROR_STATUS_CODE));
        out.printf("message: %s%n", request.getAttribute(RequestDispatcher.ERROR_MESSAGE));
        out.printf("request URI: %s%n", request.getAttribute(RequestDispatcher.ERROR_REQUEST_URI));
        out.printf("servlet: %s%n", request.getAttribute(RequestDispatcher.ERROR_SERVLET_NAME));
        Object exception = request.getAttribute(RequestDispatcher.ERROR_EXCEPTION_TYPE);
        out.printf("exception: %s%n", exception);
        out.printf("dispatcher type: %s, method: %s%n", request.getDispatcherType(), request.getMethod());
    }
}
