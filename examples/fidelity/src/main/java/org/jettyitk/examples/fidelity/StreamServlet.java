package org.jettyitk.examples.fidelity;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.PrintWriter;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * <p>A response streamed line by line: {@code ?lines=} lines, each flushed to the client, {@code ?delayMs=}
 * milliseconds apart.</p>
 */
public class StreamServlet extends HttpServlet
{
    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
    {
        Query query = new Query(request);
        int lines = query.getInt("lines", 5);
        int delay = query.getInt("delayMs", 20);
        response.setContentType("text/plain;charset=utf-8");
        PrintWriter out = response.getWriter();
        for (int line = 1; line <= lines; line++)
        {
            out.printf("line %d of %d%n", line, lines);
            out.flush();
            if (out.checkError())
                throw new IOException("client gone at line " + line);
            try
            {
                Thread.sleep(delay);
            }
            catch (InterruptedException x)
            {
                throw new InterruptedIOException("interrupted at line " + line);
            }
        }
    }
}
