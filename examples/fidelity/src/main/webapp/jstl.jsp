<%@ page contentType="text/html;charset=UTF-8" %>
<%@ taglib prefix="c" uri="jakarta.tags.core" %>
<!DOCTYPE html>
<html>
<body>
<ul>
<c:forEach var="i" begin="1" end="3">
  <li>item <c:out value="${i}"/></li>
</c:forEach>
</ul>
<p>name: <c:out value="${param.name}" default="(none)"/></p>
<p>method: <c:out value="${pageContext.request.method}"/>, host: <c:out value="${header['Host']}"/></p>
</body>
</html>
