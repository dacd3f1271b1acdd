package org.jettyitk.examples.fidelity;

import java.io.IOException;
import java.io.PrintWriter;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * <p>A text of {@code ?lines=} numbered lines, the same on every request: something for the
 * {@code compression-gzip} module to compress.</p>
 */
public class TextServlet extends HttpServlet
{
    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
    {
        int lines = new Query(request).getInt("lines", 500);
        response.setContentType("text/plain;charset=utf-8");
        PrintWriter out = response.getWriter();
        for (int line = 1; line <= lines; line++)
        {
            out.printf("%05d the quick brown fox jumps over the lazy dog%n", line);
        }
    }
}
