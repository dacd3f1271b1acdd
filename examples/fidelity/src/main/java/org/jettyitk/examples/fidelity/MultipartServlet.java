package org.jettyitk.examples.fidelity;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.Collections;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;

/**
 * <p>Reports a {@code multipart/form-data} POST as the servlet API parses it (its {@code multipart-config} is in
 * web.xml): {@code getParameter} of the text fields, then each part's name, file name, type, headers and
 * content.</p>
 */
public class MultipartServlet extends HttpServlet
{
    @Override
    protected void doPost(HttpServletRequest request, HttpServletResponse response) throws IOException, ServletException
    {
        response.setContentType("text/plain;charset=utf-8");
        PrintWriter out = response.getWriter();
        for (String name : Collections.list(request.getParameterNames()))
        {
            out.printf("getParameter(%s): %s%n", name, request.getParameter(name));
        }
        for (Part part : request.getParts())
        {
            out.printf("part %s, file %s, type %s, size %d%n", part.getName(), part.getSubmittedFileName(), part.getContentType(), part.getSize());
            for (String header : part.getHeaderNames())
            {
                out.printf("  part header %s: %s%n", header, part.getHeader(header));
            }
            try (InputStream in = part.getInputStream())
            {
                out.printf("  content: %s%n", new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
        }
    }
}
