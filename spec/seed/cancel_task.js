const ip = "127.0.0.1";
const url = `http://${ip}:44000/api/v2/task`;
const xmlData = 
`<?xml version="1.0"?>
<methodcall>
  <name>cancel_task</name>
  <params>
    <task_id>123004</task_id>
  </params>
</methodcall>`;

fetch(url, {
    method: 'POST',
    body: xmlData,
    headers: {
        'Content-Type': 'application/xml'
    }
})
    .then(response => response.text())
    .then(responseString => console.log(responseString));
