<%@ page contentType="text/plain;charset=UTF-8" %>
JSP without tags: <%= request.getMethod() %> <%= request.getRequestURL() %> <%= request.getHeader("Host") %>
<% response.setHeader("X-App-Jsp", "set by a JSP"); %>
