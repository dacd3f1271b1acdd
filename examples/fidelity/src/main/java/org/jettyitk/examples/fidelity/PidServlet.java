package org.jettyitk.examples.fidelity;

import java.io.IOException;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * <p>The pid of the JVM that runs the app: in jetty-itk, the worker's.</p>
 */
public class PidServlet extends HttpServlet
{
    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
    {
        response.setContentType("text/plain;charset=utf-8");
        response.getWriter().print(ProcessHandle.current().pid());
    }
}
